// Organization policy: the documented policy object and its defaults ("Create an organization").

export const DEFAULT_EXCLUDED_EXTENSIONS =
  '.$$,.$db,.113,.3g2,.3gp,.3gp2,.3gpp,.3mm,.a,.abf,.abk,.afm,.ani,.ann,.asf,.avi,.avs,.bac,.bak,.bck,.bcm,.bd2,.bdb,.bdf,.bkf,.bkp,.bmk,.bsc,.bsf,.cab,.cf1,.chm,.chq,.chw,.cnt,.com,.cpl,.cur,.dbs,.dev,.dfont,.dll,.dmp,.drv,.dv,.dvd,.dvr,.dvr-ms,.eot,.evt,.exe,.ffa,.ffl,.ffo,.ffx,.flc,.flv,.fnt,.fon,.ftg,.fts,.fxp,.gid,.grp,.hdd,.hlp,.hxi,.hxq,.hxr,.hxs,.ico,.idb,.idx,.ilk,.img,.inf,.ini,.ins,.ipf,.iso,.isp,.its,.jar,.jse,.kbd,.kext,.key,.lex,.lib,.library-ms,.lnk,.log,.lwfn,.m1p,.m1v,.m2p,.m2v,.m4v,.mem,.mkv,.mov,.mp2,.mp2v,.mp4,.mpe,.mpeg,.mpg,.mpv,.mpv2,.msc,.msi,.msm,.msp,.mst,.ncb,.nt,.nvram,.o,.obj,.obs,.ocx,.old,.ost,.otf,.pch,.pd6,.pf,.pfa,.pfb,.pfm,.pnf,.pol,.pref,.prf,.prg,.prn,.pst,.pvs,.pwl,.QBA,.QBA.TLG,.QBW,.QBW.TLG,.qt,.rdb,.reg,.rll,.rox,.sbr,.scf,.scr,.sdb,.shb,.suit,.swf,.swp,.sys,.theme,.tivo,.tmp,.tms,.ttc,.ttf,.v2i,.vbe,.vga,.vgd,.vhd,.video,.vmc,.vmdk,.vmsd,.vmsn,.vmx,.vxd,.win,.wpk';

export const DEFAULT_LOCKED_EXTENSIONS =
  '.doc,.docx,.xls,.xlsx,.ppt,.pptx,.pdf,.txt,.xlsb,.xlsm,.csv,.docm,.dotx,.dotm,.pub,.wpd,.odt,.ott,.oth,.odm,.ots,.odp,.odg,.otp,.odf,.oxt,.odc,.ods,.vdx,.vsx,.vtx,.one';

/** Stored policy fields (the `type`, `company_id` and formatted fields are added when rendered). */
export interface Policy {
  ad_enabled: boolean;
  admin_browse_files: boolean;
  admin_browse_remote: boolean;
  admin_create_users: boolean;
  backups_enabled: boolean;
  branding_enabled: boolean;
  change_password_frequency: number | null;
  deactivate_token_frequency: number | '';
  excluded_extensions: string;
  file_server_enabled: boolean;
  locked_extensions: string;
  max_file_size: number;
  monthly_cost_cents: number;
  monthly_cost_currency: string;
  num_orgs_maximum: number;
  num_users_maximum: number;
  psa_enabled: boolean;
  purge_deleted: boolean;
  purge_deleted_frequency: number | '';
  require_mobile_lock: boolean;
  require_two_step_auth: boolean;
  secure_shares: boolean;
  service_plans_enabled: boolean;
  space_quota: number;
  trial_length_days: number;
  trim_revisions: boolean;
  trim_revisions_x: number | '';
  user_bulk_resolve_warnings: boolean;
  user_create_backups: boolean;
  user_create_shares: boolean;
  user_lock_files: boolean;
  user_overwrite_collisions: boolean;
  user_purge_deleted: boolean;
  user_trim_revisions: boolean;
  web_preview_enabled: boolean;
  webdav_enabled: boolean;
}

export function defaultPolicy(): Policy {
  return {
    ad_enabled: true,
    admin_browse_files: true,
    admin_browse_remote: true,
    admin_create_users: true,
    backups_enabled: true,
    branding_enabled: true,
    change_password_frequency: null,
    deactivate_token_frequency: 30,
    excluded_extensions: DEFAULT_EXCLUDED_EXTENSIONS,
    file_server_enabled: true,
    locked_extensions: DEFAULT_LOCKED_EXTENSIONS,
    max_file_size: 300,
    monthly_cost_cents: 0,
    monthly_cost_currency: '',
    num_orgs_maximum: 10,
    num_users_maximum: 0,
    psa_enabled: true,
    purge_deleted: false,
    purge_deleted_frequency: '',
    require_mobile_lock: false,
    require_two_step_auth: false,
    secure_shares: false,
    service_plans_enabled: false,
    space_quota: 2199023255552,
    trial_length_days: 30,
    trim_revisions: false,
    trim_revisions_x: '',
    user_bulk_resolve_warnings: false,
    user_create_backups: true,
    user_create_shares: true,
    user_lock_files: false,
    user_overwrite_collisions: false,
    user_purge_deleted: false,
    user_trim_revisions: false,
    web_preview_enabled: true,
    webdav_enabled: true,
  };
}

/** Token lifetime in days: `deactivate_token_frequency`, empty or invalid = the documented default 30. */
export function tokenLifetimeDays(policy: Pick<Policy, 'deactivate_token_frequency'>): number {
  const v = Number(policy.deactivate_token_frequency);
  return policy.deactivate_token_frequency === '' || !Number.isFinite(v) || v <= 0 ? 30 : v;
}

/** Lower-cased extensions of a comma-separated policy list (".mp3,*.ogg" → [".mp3", ".ogg"]). */
export function parseExtensionList(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim().replace(/^\*/, '').toLowerCase())
    .filter((s) => s.length > 1 && s.startsWith('.'));
}

/** Parsed extension lists by their text (a policy's list is checked on every upload). */
const parsedLists = new Map<string, string[]>();

/** Whether `name` ends with one of the extensions (multi-dot ones like ".qbw.tlg" included). */
export function hasExcludedExtension(name: string, list: string): boolean {
  let exts = parsedLists.get(list);
  if (!exts) {
    exts = parseExtensionList(list);
    if (parsedLists.size >= 64) parsedLists.clear();
    parsedLists.set(list, exts);
  }
  const lower = name.toLowerCase();
  return exts.some((ext) => lower.endsWith(ext) && lower.length > ext.length);
}
