// One logger for the whole handler. JSON lines when stderr is not a terminal
// (journald, log shippers), readable lines on one. Logs go to stderr so that
// stdout stays clean for what a command prints (a plan, a status table).
import winston from "winston";

export type LogLevel = "error" | "warn" | "info" | "debug";
export type Logger = winston.Logger;

const readable = winston.format.printf((entry) => {
  const { level, message, timestamp, ...fields } = entry;
  const extra = Object.entries(fields)
    .filter(([key]) => typeof key === "string")
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(" ");
  return `${String(timestamp)} ${level} ${String(message)}${extra ? ` ${extra}` : ""}`;
});

export function createLogger(level: LogLevel = "info", options: { json?: boolean } = {}): Logger {
  const json = options.json ?? !process.stderr.isTTY;
  return winston.createLogger({
    level,
    format: json
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(winston.format.timestamp({ format: "HH:mm:ss.SSS" }), winston.format.colorize(), readable),
    transports: [new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "debug"] })],
  });
}
