/** Wallet: a placeholder; nothing here charges or records anything. */
import { NotBuilt } from '../../components/not-built';

/** The Wallet page. */
export function WalletPage() {
  return (
    <NotBuilt title="Wallet">
      Credits and purchases are not part of this build. Everything you can do here runs on your own computer, for free.
    </NotBuilt>
  );
}
