export { startProcess, killGroup, runProcess, type RunningProcess, type StartProcessOptions, type Exit, type ProcessRun } from "./child-process";
export { waitForListening, waitForListeningInfo, waitForHttp } from "./wait";
