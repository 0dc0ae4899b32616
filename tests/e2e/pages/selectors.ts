/** Builds `[data-x="value"]` selectors with the value quoted safely (names may contain spaces or quotes). */
export function byData(attribute: string, value: string): string {
  return `[data-${attribute}=${JSON.stringify(value)}]`;
}
