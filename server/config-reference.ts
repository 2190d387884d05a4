/**
 * The settings reference, from the configuration schema itself: each setting's flag,
 * environment variable, default and description. `seam serve --help` prints it and
 * scripts/gen-config-docs.ts writes it to docs/configuration.md, so neither can drift
 * from server/config.ts.
 */
import { z } from 'zod';
import {
  type Config,
  configSchema,
  envName,
  flagName,
  loadConfig,
  settingKeys,
  switchSettings,
} from './config.ts';

/** One setting as the reference shows it. */
export interface SettingReference {
  key: keyof Config;
  /** `--max-concurrent-streams`. */
  flag: string;
  /** `SEAM_MAX_CONCURRENT_STREAMS`. */
  env: string;
  /** Whether the flag takes no value (`--plaintext`). */
  isSwitch: boolean;
  /** The default as a reader wants it (`8 MiB`, `none`), or undefined when there is none. */
  default: string | undefined;
  /** The schema's description, then the values an enumerated setting takes. */
  description: string;
}

const mib = 1024 * 1024;

/** A default as people read it: sizes of whole MiB in MiB. */
function shownDefault(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && value >= mib && value % mib === 0) return `${value / mib} MiB`;
  return String(value);
}

/** Every setting, in the schema's order. */
export function settingsReference(): SettingReference[] {
  const defaults: Partial<Config> = loadConfig({ env: {} });
  return settingKeys.map((key) => {
    const field = configSchema.shape[key];
    const inner = field instanceof z.ZodDefault ? field.unwrap() : field;
    const values = inner instanceof z.ZodEnum ? ` One of: ${inner.options.join(', ')}.` : '';
    return {
      key,
      flag: `--${flagName(key)}`,
      env: envName(key),
      isSwitch: switchSettings.includes(key),
      default: shownDefault(defaults[key]),
      description: `${field.description ?? ''}${values}`,
    };
  });
}

/** Words of `text` in lines of at most `width` characters, each after `indent`. */
function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines.join('\n');
}

/** `seam serve --help`: every setting with its variable, default and description. */
export function serveHelp(): string {
  const settings = settingsReference().map((s) => {
    const flag = s.isSwitch ? s.flag : `${s.flag} <value>`;
    const meta = `${s.env}${s.default === undefined ? '' : `, default ${s.default}`}`;
    return `  ${flag}  (${meta})\n${wrap(s.description.replaceAll('`', ''), 96, '      ')}`;
  });
  return [
    'usage: seam serve [--config file.json] [options]',
    '',
    'Every option is also an environment variable (in brackets) and a key of the JSON file',
    '(--config); flags win over the environment, which wins over the file. Reference:',
    'docs/configuration.md.',
    '',
    ...settings,
    '',
  ].join('\n');
}
