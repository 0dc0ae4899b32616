/** Settings: app facts. */
export { SettingsPage } from './settings-page';
