const FILTER_OPERATOR = /(==|!=|\bin\b|\bcontains\b|\bis\s+(not\s+)?empty\b|\bmatches\b)/;

/**
 * A light check of a Consul filter expression, so an obvious mistake is a
 * config error rather than a failing read; Consul itself checks the rest
 * (HTTP 400, shown by check-config).
 */
export function filterProblem(filter: string): string | undefined {
  if (filter.length > 2048) return "longer than 2048 characters";
  if (/\p{Cc}/u.test(filter)) return "contains a control character (a newline?); write it on one line";
  if (!FILTER_OPERATOR.test(filter)) return "no operator; expected e.g. Service.Meta.env == \"prod\" or \"canary\" in Service.Tags";
  let depth = 0;
  let quote: string | undefined;
  for (let index = 0; index < filter.length; index += 1) {
    const character = filter[index];
    if (quote !== undefined) {
      if (character === "\\") index += 1;
      else if (character === quote) quote = undefined;
    } else if (character === '"' || character === "`") {
      quote = character;
    } else if (character === "(") {
      depth += 1;
    } else if (character === ")") {
      depth -= 1;
      if (depth < 0) return "a ')' without its '('";
    }
  }
  if (quote !== undefined) return `an unclosed ${quote}`;
  if (depth > 0) return "a '(' without its ')'";
  return undefined;
}
