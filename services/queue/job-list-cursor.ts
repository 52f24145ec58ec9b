import { InvalidListCursor } from '../../jobs/ports/errors/invalid-list-cursor.js';

/** Zero-padded milliseconds: lexicographic order of index members is creation order. */
export const CREATED_MS_DIGITS = 15;

/** A job's entry in the listing indexes: creation time, then the id to order jobs created in the same ms. */
export function indexMember(createdAt: string, id: string): string {
  return `${String(Date.parse(createdAt)).padStart(CREATED_MS_DIGITS, '0')}:${id}`;
}

/** The job id an index member names. */
export const jobIdOf = (member: string): string => member.slice(CREATED_MS_DIGITS + 1);

/** The opaque `nextCursor` of a page that ended at `member`. */
export const encodeCursor = (member: string): string => Buffer.from(member, 'utf8').toString('base64url');

/** The index member a cursor stands for; throws `InvalidListCursor` for anything `encodeCursor` did not make. */
export function decodeCursor(cursor: string): string {
  const member = Buffer.from(cursor, 'base64url').toString('utf8');
  const shape = new RegExp(`^\\d{${CREATED_MS_DIGITS}}:[^\\x00-\\x20]+$`);
  if (!shape.test(member) || encodeCursor(member) !== cursor) throw new InvalidListCursor(cursor);
  return member;
}
