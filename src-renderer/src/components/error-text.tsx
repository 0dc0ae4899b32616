/** An inline error line; renders nothing without a message so callers can pass state directly. */

/** Shows `message` as an alert, or nothing. */
export function ErrorText({ message, testId }: { message: string | null; testId?: string }) {
  if (!message) return null;
  return (
    <p className="error-text" role="alert" data-testid={testId}>
      {message}
    </p>
  );
}
