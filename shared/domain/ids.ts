/**
 * Ids of lists, matches and uploads: the creation time first (base 36, fixed width), then a random
 * UUID. They sort by creation time, so a tenant's records page newest first straight from the
 * table, and the random part keeps them unguessable.
 */
export function timeOrderedId(now: Date, random: string): string {
  return `${timeOrderedIdFloor(now)}-${random}`;
}

/** A string that sorts before every id created at or after `time`, and after every earlier one. */
export function timeOrderedIdFloor(time: Date): string {
  return time.getTime().toString(36).padStart(9, '0');
}
