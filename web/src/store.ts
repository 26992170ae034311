// Conversations and settings, kept in the browser's localStorage (this origin only; nothing is sent anywhere
// but to the server as a chat request).
import type { ToolCall } from './api';

export interface Stats {
  promptTokens?: number;
  completionTokens: number;
  seconds: number;          // from the request to the last token
  tokensPerSecond?: number; // decode speed: tokens after the first over the time after it
  estimated?: boolean;      // stopped: counted from the streamed chunks, not the server's usage
}

export interface Message {
  role: 'user' | 'assistant';
  content: string;
  reasoning?: string;
  toolCalls?: ToolCall[];
  stats?: Stats;
  error?: string;
  finish?: string;  // the server's finish_reason, or "stopped"
}

export interface Conversation {
  id: string;
  title: string;
  created: number;
  messages: Message[];
}

export interface Settings {
  model: string;  // empty: the server's first
  system: string;
  thinking: boolean;
  temperature: string;  // as typed; empty: the server's default
  top_p: string;
  top_k: string;
  max_tokens: string;
  seed: string;
  extra: string;  // a JSON object merged into every request (e.g. logit_bias)
}

export const defaultSettings: Settings = {
  model: '', system: '', thinking: true, temperature: '', top_p: '', top_k: '', max_tokens: '', seed: '', extra: '',
};

const KEY = { conversations: 'qwen3.conversations', current: 'qwen3.current', settings: 'qwen3.settings', apiKey: 'qwen3.apiKey' };

function read<T>(key: string, fallback: T): T {
  try {
    const v = localStorage.getItem(key);
    return v === null ? fallback : (JSON.parse(v) as T);
  } catch {
    return fallback;
  }
}

function write(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage full or disabled: the page still works for this visit
  }
}

export const loadConversations = (): Conversation[] => {
  const v = read<Conversation[]>(KEY.conversations, []);
  return Array.isArray(v) ? v : [];
};
export const saveConversations = (c: Conversation[]) => write(KEY.conversations, c);
export const loadCurrent = (): string | null => read<string | null>(KEY.current, null);
export const saveCurrent = (id: string | null) => write(KEY.current, id);
export const loadSettings = (): Settings => ({ ...defaultSettings, ...read<Partial<Settings>>(KEY.settings, {}) });
export const saveSettings = (s: Settings) => write(KEY.settings, s);
export const loadApiKey = (): string => read<string>(KEY.apiKey, '');
export const saveApiKey = (k: string) => write(KEY.apiKey, k);

export function newConversation(): Conversation {
  const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return { id, title: 'New chat', created: Date.now(), messages: [] };
}

export function titleFrom(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 48 ? `${t.slice(0, 47)}…` : t || 'New chat';
}

// The request fields the settings give (sampling, thinking, system prompt are added by the caller).
// Throws an Error naming the field for text that is not a number or extra JSON that is not an object.
export function requestFields(s: Settings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const num = (name: keyof Settings, int: boolean) => {
    const v = String(s[name]).trim();
    if (!v) return;
    const n = Number(v);
    if (!Number.isFinite(n) || (int && !Number.isInteger(n))) throw new Error(`${name}: "${v}" is not ${int ? 'an integer' : 'a number'}`);
    out[name] = n;
  };
  num('temperature', false);
  num('top_p', false);
  num('top_k', true);
  num('max_tokens', true);
  num('seed', true);
  out.chat_template_kwargs = { enable_thinking: s.thinking };
  if (s.extra.trim()) {
    let extra: unknown;
    try {
      extra = JSON.parse(s.extra);
    } catch {
      throw new Error('Extra request fields: not valid JSON');
    }
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new Error('Extra request fields: must be a JSON object');
    Object.assign(out, extra);
  }
  return out;
}
