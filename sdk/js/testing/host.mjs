// Stand-in for the host interface when plugin code runs natively in tests.

/** Lines logged so far, as `level: message`. */
export const logged = [];

/** Records a log line (the host would write it to its log, tagged with the plugin's name). */
export function log(level, message) {
  logged.push(`${level}: ${message}`);
}
