/**
 * Contains a render crash to one feature: the rest of the studio (navigation, job tray) keeps
 * working, and the user can retry the feature without reloading.
 */
import { Component, type ErrorInfo, type ReactNode } from 'react';
import { userMessage } from '../lib/errors';

type Props = { /** Names the feature in the fallback. */ name: string; children: ReactNode };
type State = { error: unknown };

/** Error boundary for one feature. */
export class ErrorBoundary extends Component<Props, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: unknown): State {
    return { error };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    console.error(`Pinhole: ${this.props.name} crashed`, error, info.componentStack);
  }

  private readonly retry = (): void => this.setState({ error: null });

  override render(): ReactNode {
    if (this.state.error === null) return this.props.children;
    return (
      <div className="crash" role="alert" data-testid="feature-crash">
        <h2>{this.props.name} stopped working</h2>
        <p>{userMessage(this.state.error)}</p>
        <button type="button" className="button" onClick={this.retry}>
          Try again
        </button>
      </div>
    );
  }
}
