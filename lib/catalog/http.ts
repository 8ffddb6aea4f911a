import { ApiError } from "../http/api";
import { ConfigError } from "../env";
import { catalogService } from "./index";
import type { CatalogService } from "./catalog-service";

/** The catalog for a route handler; a configuration error becomes a 500 whose message names the variable. */
export function catalogForRequest(): CatalogService {
  try {
    return catalogService();
  } catch (err) {
    if (err instanceof ConfigError) throw new ApiError(500, "config", err.message);
    throw err;
  }
}
