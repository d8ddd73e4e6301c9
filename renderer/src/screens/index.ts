// The screens of the signed-in app, in navigation order. To add a screen: write
// screens/<name>.tsx exporting a component taking ScreenProps, and add one entry here.
import type { FunctionComponent } from 'preact';
import type { State } from '../api.js';
import type { Live } from '../live.js';
import { ActivityScreen } from './activity.js';
import { BandwidthScreen } from './bandwidth.js';
import { CollisionsScreen } from './collisions.js';
import { RootsScreen } from './roots.js';
import { SettingsScreen } from './settings.js';
import { TransfersScreen } from './transfers.js';

export interface ScreenProps {
  live: Live;
}

export interface ScreenDef {
  id: string;
  title: string;
  view: FunctionComponent<ScreenProps>;
  /** A count shown next to the navigation entry (0 or null: none). */
  badge?: (s: State) => number | null;
}

export const screens: ScreenDef[] = [
  { id: 'roots', title: 'Roots', view: RootsScreen },
  { id: 'collisions', title: 'Collisions', view: CollisionsScreen, badge: (s) => s.collisions },
  { id: 'transfers', title: 'Transfers', view: TransfersScreen, badge: (s) => s.status?.transfers.length ?? null },
  { id: 'bandwidth', title: 'Bandwidth', view: BandwidthScreen },
  { id: 'activity', title: 'Activity', view: ActivityScreen },
  { id: 'settings', title: 'Settings', view: SettingsScreen },
];

export const defaultScreen = 'roots';
