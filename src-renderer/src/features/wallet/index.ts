/** Wallet (not built yet). */
export { WalletPage } from './wallet-page';
