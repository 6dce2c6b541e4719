/** Collecting what the program logs, for the tests that check log lines (and that no secret leaks). */
import { configure, type LogRecord, reset } from "@logtape/logtape";

/**
 * Runs `body` with every record logged under `category` (at debug and above) and logtape's own
 * warnings collected as JSON lines `{ message, properties }`; `body` sees the lines as they come.
 * Logging is reset afterwards, and the lines are returned.
 */
export async function withLogs(
  category: readonly string[],
  body: (lines: string[]) => Promise<void>,
): Promise<string[]> {
  const lines: string[] = [];
  await configure({
    reset: true,
    sinks: {
      raw: (record: LogRecord) =>
        lines.push(JSON.stringify({ message: record.message, properties: record.properties })),
    },
    loggers: [
      { category: [...category], lowestLevel: "debug", sinks: ["raw"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["raw"] },
    ],
  });
  try {
    await body(lines);
  } finally {
    await reset();
  }
  return lines;
}
