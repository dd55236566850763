const versionCollator = new Intl.Collator('en', { numeric: true });

/**
 * The order of a model's versions, lowest first, for `Array.prototype.sort`: runs of digits compare as
 * numbers (`'2' < '10'`, `'1.9' < '1.10'`), the rest as English text. Every place that lists versions or
 * picks the highest one as the default (the models folder, the registry, the trainer) uses it, so that
 * they agree on which version is the newest.
 *
 * @returns a negative number when `a` comes before `b`, a positive one when after, 0 when they are equal.
 */
export function compareVersions(a: string, b: string): number {
  return versionCollator.compare(a, b);
}
