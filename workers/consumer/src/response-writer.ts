/**
 * The stored-responses write path: resolve each message's owner from its key (one query for the
 * batch), drop and count the ones nobody owns, insert the rest in one transaction, idempotent on
 * the response id. Stored responses are not billing data: a dropped record loses a transcript,
 * never money (the request's usage message is separate and billed regardless).
 */
import { liveObjectKey, type ResponseMessage } from "../../../shared/response-message.ts";
import type { SqlClient } from "../../../shared/sql/client.ts";
import { insertResponses, keyOwners, type OwnedResponse } from "../../../shared/sql/responses.ts";

export interface ResponseWriteOutcome {
  /** Rows written now. */
  stored: number;
  /** Already in the table (a redelivery). */
  alreadyStored: number;
  /** Records whose key resolves to no owner: not stored. */
  droppedOwnerless: number;
  /** Not written: the owner deleted the response (from its live copy) before its row arrived. */
  deletedFirst: number;
  /** R2 keys of dropped records' bodies, for the caller to delete after the commit. */
  orphanedObjects: string[];
  /** R2 live copies (read-after-write) no longer needed, for the caller to delete after the commit. */
  liveCopies: string[];
}

/** Writes one batch; throws on a database error (nothing is then written and the caller retries). */
export async function writeResponseBatch(client: SqlClient, messages: readonly ResponseMessage[]): Promise<ResponseWriteOutcome> {
  const unique = [...new Map(messages.map((m) => [m.id, m])).values()];
  const owners = await keyOwners(client, unique.flatMap((m) => (m.api_key_id ? [m.api_key_id] : [])));
  const owned: OwnedResponse[] = [];
  const orphanedObjects: string[] = [];
  for (const message of unique) {
    const createdBy = message.api_key_id ? owners.get(message.api_key_id.toLowerCase()) : undefined;
    if (createdBy) owned.push({ message, createdBy });
    else if (message.body_object_key) orphanedObjects.push(message.body_object_key);
  }
  const { stored, deleted } = await insertResponses(client, owned);
  for (const r of deleted) if (r.message.body_object_key) orphanedObjects.push(r.message.body_object_key);
  // Once the row is written (or tombstoned) the live copy has served its purpose.
  const liveCopies = owned.map((r) => liveObjectKey(r.createdBy, r.message.id));
  return {
    stored: stored.length,
    alreadyStored: owned.length - deleted.length - stored.length,
    droppedOwnerless: unique.length - owned.length,
    deletedFirst: deleted.length,
    orphanedObjects,
    liveCopies,
  };
}
