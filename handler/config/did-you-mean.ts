// "Did you mean …?" for a mistyped name: the closest known one, if it is close.

/** Levenshtein distance, for "did you mean" on short names. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The candidate closest to `word` when it differs in case only or by up to two letters (fewer for short names). */
export function closestWord<T extends string>(word: string, candidates: readonly T[], normalise: (text: string) => string = (text) => text.toLowerCase()): T | undefined {
  const wanted = normalise(word);
  let best: { word: T; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, normalise(candidate));
    if (distance <= Math.min(2, Math.floor(candidate.length / 3)) && (best === undefined || distance < best.distance)) best = { word: candidate, distance };
  }
  return best?.word;
}
