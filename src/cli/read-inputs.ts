import { InputError, readDocuments, type SourcedDocument } from '../io/yaml-documents.js';
import { UserError } from './errors.js';

/**
 * Reads the YAML documents of `-f FILE|DIR|-` inputs for a CLI command. An unreadable or malformed
 * input is a usage error (exit 2) whose one-line message names the input; anything else is a bug.
 */
export async function readInputs(paths: string[]): Promise<SourcedDocument[]> {
  try {
    return await readDocuments(paths);
  } catch (err) {
    if (err instanceof InputError) throw new UserError(err.message, 2);
    throw err;
  }
}
