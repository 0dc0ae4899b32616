/**
 * Where a verified download goes: the models library (engineer H's import) takes the file.
 * The download job only promises that the file's SHA-256 is the one it reports, and that it
 * sits on the data home's volume so the library can rename it into place instead of copying.
 */

export type VerifiedDownload = {
  /** SHA-256 of the file, lowercase hex; checked against `expected` when there was one. */
  sha256: string;
  /** Whether a known hash confirmed the bytes (false: no hash was given, the user accepted that). */
  verified: boolean;
  /** The library name asked for, or null to let the library choose one from the file name. */
  name: string | null;
  /** The file name the server's URL gives, e.g. `sd_xl_base_1.0.safetensors`. */
  fileName: string;
  /** The URL the user asked for (not the redirect target, which is often a signed CDN link). */
  sourceUrl: string;
  bytes: number;
};

export interface DownloadedModelSink {
  /**
   * Takes ownership of `file` (move it or copy and delete it); resolves with where the library
   * keeps it. Throws a PinholeError when the file is not a usable model; the job then fails with
   * that error and removes the file.
   */
  onVerified(file: string, info: VerifiedDownload): Promise<{ file: string; name?: string | undefined }>;
}
