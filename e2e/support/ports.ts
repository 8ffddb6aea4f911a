export { freePort } from "../../lib/net/ports";
