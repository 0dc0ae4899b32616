/** The page registry: the one place that knows every feature, in navigation order. */
import type { ComponentType } from 'react';
import { GalleryPage } from '../features/gallery';
import { GeneratePage } from '../features/generate';
import { ModelsPage } from '../features/models';
import { SettingsPage } from '../features/settings';
import { TrainPage } from '../features/train';
import { WalletPage } from '../features/wallet';
import type { PageId } from '../lib/router';

/** One navigation entry. */
export type PageEntry = {
  id: PageId;
  label: string;
  /** A single glyph for the sidebar; decorative. */
  icon: string;
  Component: ComponentType;
  /** Shown as "soon" in the navigation: the page explains what is missing. */
  notBuilt?: boolean;
};

/** Every page, in sidebar order. */
export const PAGE_ENTRIES: readonly PageEntry[] = [
  { id: 'generate', label: 'Generate', icon: '✦', Component: GeneratePage },
  { id: 'train', label: 'Train', icon: '◎', Component: TrainPage },
  { id: 'gallery', label: 'Gallery', icon: '▦', Component: GalleryPage },
  { id: 'models', label: 'Models', icon: '◇', Component: ModelsPage },
  { id: 'wallet', label: 'Wallet', icon: '◈', Component: WalletPage, notBuilt: true },
  { id: 'settings', label: 'Settings', icon: '⚙', Component: SettingsPage },
];
