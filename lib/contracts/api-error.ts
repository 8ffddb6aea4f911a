import { z } from "zod";

/** The body of every 4xx/5xx answer from the agent and from the dashboard's API. */
export const ApiErrorBody = z.object({ code: z.string(), message: z.string() });
export type ApiErrorBody = z.infer<typeof ApiErrorBody>;
