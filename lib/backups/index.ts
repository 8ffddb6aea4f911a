export * from "./grouping";
export * from "./anomalies";
export * from "./series";
export * from "./describe";
