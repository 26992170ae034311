// The chat page `qwen3 serve` answers at / (docs/SERVER.md, "Web chat page"): one Preact component tree over
// the server's own OpenAI API. Conversations and settings live in localStorage (store.ts); an answer streams
// from /v1/chat/completions (api.ts), its reasoning in a "Thinking" block that is open while it streams and
// folded after; Stop aborts the fetch, which closes the connection, and the server cancels the sequence.
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, listModels, streamChat, type Delta } from './api';
import { renderMarkdown } from './markdown';
import * as store from './store';
import type { Conversation, Message, Settings } from './store';
import './style.css';

interface Busy {
  convId: string;
  controller: AbortController;
}

function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const ta = document.createElement('textarea');
  ta.value = text;
  document.body.appendChild(ta);
  ta.select();
  document.execCommand('copy');
  ta.remove();
  return Promise.resolve();
}

function download(name: string, data: unknown): void {
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// The messages as the API takes them: the system prompt first; failed answers with no text left out.
function apiMessages(system: string, history: Message[]): object[] {
  const out: object[] = system.trim() ? [{ role: 'system', content: system }] : [];
  for (const m of history) {
    if (m.role === 'user') out.push({ role: 'user', content: m.content });
    else if (m.content || m.toolCalls?.length) {
      const a: Record<string, unknown> = { role: 'assistant', content: m.content };
      if (m.toolCalls?.length)
        a.tool_calls = m.toolCalls.map((t, i) => ({ id: t.id ?? `call_${i}`, type: 'function', function: { name: t.name, arguments: t.arguments } }));
      out.push(a);
    }
  }
  return out;
}

function Markdown({ text }: { text: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div class="md" dangerouslySetInnerHTML={{ __html: html }} />;
}

// Open while the reasoning streams, folded once it ends (the user may open or fold it at any time).
function Thinking({ text, streaming }: { text: string; streaming: boolean }) {
  const [open, setOpen] = useState(streaming);
  const was = useRef(streaming);
  useEffect(() => {
    if (was.current !== streaming) setOpen(streaming);
    was.current = streaming;
  }, [streaming]);
  return (
    <details class="thinking" open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>{streaming ? 'Thinking…' : 'Thinking'}</summary>
      <div class="thinking-text">{text}</div>
    </details>
  );
}

function StatsLine({ m }: { m: Message }) {
  const s = m.stats;
  if (!s) return null;
  const parts = [`${s.estimated ? '~' : ''}${s.completionTokens} tokens`];
  if (s.tokensPerSecond !== undefined) parts.push(`${s.tokensPerSecond.toFixed(1)} tok/s`);
  parts.push(`${s.seconds.toFixed(2)} s`);
  if (s.promptTokens !== undefined) parts.push(`prompt ${s.promptTokens} tokens`);
  if (m.finish && m.finish !== 'stop') parts.push(m.finish === 'length' ? 'max tokens reached' : m.finish);
  return <div class="stats">{parts.join(' · ')}</div>;
}

interface MessageProps {
  m: Message;
  streaming: boolean;
  canRegenerate: boolean;
  canEdit: boolean;
  onRegenerate: () => void;
  onEdit: (text: string) => void;
}

function MessageView({ m, streaming, canRegenerate, canEdit, onRegenerate, onEdit }: MessageProps) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(m.content);
  if (m.role === 'user') {
    if (editing)
      return (
        <form
          class="msg user editing"
          onSubmit={(e) => {
            e.preventDefault();
            setEditing(false);
            onEdit(draft);
          }}
        >
          <label class="sr-only" for="edit-last">Edit your message</label>
          <textarea id="edit-last" value={draft} rows={3} onInput={(e) => setDraft(e.currentTarget.value)} />
          <div class="actions">
            <button type="submit">Save and send</button>
            <button type="button" onClick={() => setEditing(false)}>Cancel</button>
          </div>
        </form>
      );
    return (
      <div class="msg user">
        <div class="bubble">{m.content}</div>
        {canEdit && (
          <div class="actions">
            <button type="button" onClick={() => (setDraft(m.content), setEditing(true))}>Edit</button>
          </div>
        )}
      </div>
    );
  }
  const thinkingNow = streaming && !m.content && !m.toolCalls?.length;
  return (
    <div class="msg assistant" aria-busy={streaming ? 'true' : undefined}>
      {m.reasoning !== undefined && <Thinking text={m.reasoning} streaming={thinkingNow} />}
      {m.content && <Markdown text={m.content} />}
      {m.toolCalls?.map((t, i) => (
        <div class="tool-call" key={i}>
          <div class="tool-head">Tool call <code>{t.name}</code></div>
          <pre><code>{prettyJson(t.arguments)}</code></pre>
        </div>
      ))}
      {streaming && !m.content && !m.reasoning && <div class="waiting">…</div>}
      {m.error && <div class="error" role="alert">{m.error}</div>}
      <StatsLine m={m} />
      {canRegenerate && (
        <div class="actions">
          <button type="button" onClick={onRegenerate}>Regenerate</button>
        </div>
      )}
    </div>
  );
}

function prettyJson(s: string): string {
  try {
    return JSON.stringify(JSON.parse(s), null, 2);
  } catch {
    return s;
  }
}

// A native modal <dialog>, shown while `open` (focus stays inside; Escape calls onClose).
function Modal({ open, onClose, label, children }: { open: boolean; onClose: () => void; label: string; children: preact.ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    // The close event comes a task later: ignore it when the dialog has been opened again since.
    <dialog ref={ref} aria-label={label} onClose={() => ref.current?.open || onClose()}>
      {open && children}
    </dialog>
  );
}

function SettingsForm({ settings, setSettings, models, apiKey, setApiKey, onDone }: {
  settings: Settings; setSettings: (s: Settings) => void; models: string[]; apiKey: string; setApiKey: (k: string) => void; onDone: () => void;
}) {
  const field = (name: keyof Settings, label: string, placeholder: string, mode: 'decimal' | 'numeric') => (
    <label class="field">
      <span>{label}</span>
      <input type="text" inputMode={mode} placeholder={placeholder} value={settings[name] as string}
        onInput={(e) => setSettings({ ...settings, [name]: e.currentTarget.value })} />
    </label>
  );
  return (
    <form class="settings" onSubmit={(e) => (e.preventDefault(), onDone())}>
      <h2>Settings</h2>
      {models.length > 1 && (
        <label class="field">
          <span>Model</span>
          <select value={settings.model || models[0]} onChange={(e) => setSettings({ ...settings, model: e.currentTarget.value })}>
            {models.map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
        </label>
      )}
      <label class="field wide">
        <span>System prompt</span>
        <textarea rows={3} value={settings.system} onInput={(e) => setSettings({ ...settings, system: e.currentTarget.value })} />
      </label>
      <div class="grid">
        {field('temperature', 'Temperature', 'model default', 'decimal')}
        {field('top_p', 'Top-p', 'model default', 'decimal')}
        {field('top_k', 'Top-k', 'model default', 'numeric')}
        {field('max_tokens', 'Max tokens', 'until the context ends', 'numeric')}
        {field('seed', 'Seed', 'random', 'numeric')}
      </div>
      <label class="field wide">
        <span>Extra request fields (JSON object, e.g. {'{"min_p": 0.05}'})</span>
        <textarea rows={2} class="mono" value={settings.extra} onInput={(e) => setSettings({ ...settings, extra: e.currentTarget.value })} />
      </label>
      <label class="field wide">
        <span>API key (kept in this browser)</span>
        <input type="password" autoComplete="off" value={apiKey} onInput={(e) => setApiKey(e.currentTarget.value)} />
      </label>
      <div class="actions">
        <button type="submit" class="primary">Done</button>
      </div>
    </form>
  );
}

function KeyPrompt({ onSave, message }: { onSave: (k: string) => void; message: string }) {
  const [key, setKey] = useState('');
  return (
    <form class="settings" onSubmit={(e) => (e.preventDefault(), onSave(key))}>
      <h2>API key</h2>
      <p>{message || 'This server needs an API key.'} It is kept in this browser only.</p>
      <label class="field wide">
        <span>API key</span>
        <input type="password" autoComplete="off" value={key} autoFocus onInput={(e) => setKey(e.currentTarget.value)} />
      </label>
      <div class="actions">
        <button type="submit" class="primary">Save</button>
      </div>
    </form>
  );
}

function App() {
  const [convs, setConvs] = useState<Conversation[]>(store.loadConversations);
  const [currentId, setCurrentId] = useState<string | null>(() => {
    const id = store.loadCurrent();
    return convs.some((c) => c.id === id) ? id : (convs[0]?.id ?? null);
  });
  const [settings, setSettingsState] = useState<Settings>(store.loadSettings);
  const [apiKey, setApiKeyState] = useState(store.loadApiKey);
  const [models, setModels] = useState<string[]>([]);
  const [banner, setBanner] = useState('');
  const [busy, setBusy] = useState<Busy | null>(null);
  const [input, setInput] = useState('');
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [keyPrompt, setKeyPrompt] = useState<string | null>(null);
  const [sidebarOpen, setSidebarOpen] = useState(false);
  const [renaming, setRenaming] = useState<{ id: string; title: string } | null>(null);
  const listRef = useRef<HTMLDivElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const stickToBottom = useRef(true);

  const current = convs.find((c) => c.id === currentId) ?? null;
  const setSettings = (s: Settings) => (setSettingsState(s), store.saveSettings(s));
  const setApiKey = (k: string) => (setApiKeyState(k), store.saveApiKey(k));

  // The model list; a 401 opens (or keeps open) the key prompt. Resolves to whether the list came.
  const loadModels = (key: string): Promise<boolean> =>
    listModels(key)
      .then((m) => (setModels(m), setBanner(''), true))
      .catch((e) => {
        if (e instanceof ApiError && e.status === 401) setKeyPrompt(key ? 'That API key was refused.' : '');
        else setBanner(`The server's model list failed: ${e.message}`);
        return false;
      });
  useEffect(() => void loadModels(apiKey), []);

  // Saved when no answer streams (and once more when it ends), not at every token.
  useEffect(() => {
    if (!busy) store.saveConversations(convs);
  }, [convs, busy]);
  useEffect(() => store.saveCurrent(currentId), [currentId]);
  useEffect(() => {
    const el = listRef.current;
    if (el && stickToBottom.current) el.scrollTop = el.scrollHeight;
  });

  const patchMessage = (convId: string, index: number, m: Message) =>
    setConvs((cs) => cs.map((c) => (c.id === convId ? { ...c, messages: c.messages.map((x, i) => (i === index ? m : x)) } : c)));

  // Streams an answer to `history` into a new assistant message of conversation `conv`.
  async function generate(conv: Conversation, history: Message[]) {
    const index = history.length;
    const live: Message = { role: 'assistant', content: '' };
    setConvs((cs) => cs.map((c) => (c.id === conv.id ? { ...c, messages: [...history, { ...live }] } : c)));
    let fields: Record<string, unknown>;
    try {
      fields = store.requestFields(settings);
    } catch (e) {
      patchMessage(conv.id, index, { ...live, error: (e as Error).message });
      return;
    }
    const controller = new AbortController();
    setBusy({ convId: conv.id, controller });
    stickToBottom.current = true;
    const t0 = performance.now();
    let tFirst = 0, tLast = 0, chunks = 0, scheduled = false;
    let serverSpeed: number | undefined;
    const flush = () => ((scheduled = false), patchMessage(conv.id, index, { ...live }));
    const onDelta = (d: Delta) => {
      if (d.reasoning_content) live.reasoning = (live.reasoning ?? '') + d.reasoning_content;
      if (d.content) live.content += d.content;
      for (const t of d.tool_calls ?? []) {
        const calls = (live.toolCalls = [...(live.toolCalls ?? [])]);
        const prev = calls[t.index] ?? { name: '', arguments: '' };
        calls[t.index] = { id: t.id ?? prev.id, name: prev.name + (t.function?.name ?? ''), arguments: prev.arguments + (t.function?.arguments ?? '') };
      }
      if (d.reasoning_content || d.content || d.tool_calls) {
        ++chunks;
        tLast = performance.now();
        if (!tFirst) tFirst = tLast;
      }
      if (!scheduled) (scheduled = true), requestAnimationFrame(flush);
    };
    try {
      const model = settings.model || models[0] || 'default';
      const res = await streamChat({ model, messages: apiMessages(settings.system, history), ...fields }, apiKey, controller.signal, onDelta);
      live.finish = res.finishReason;
      if (res.usage) live.stats = { promptTokens: res.usage.prompt_tokens, completionTokens: res.usage.completion_tokens, seconds: 0 };
      serverSpeed = res.timings && res.timings.predicted_n > 0 ? res.timings.predicted_per_second : undefined;
    } catch (e) {
      if ((e as Error).name === 'AbortError') live.finish = 'stopped';
      else {
        live.error = (e as Error).message;
        if (e instanceof ApiError && e.status === 401) setKeyPrompt(apiKey ? 'That API key was refused.' : '');
      }
    }
    if (chunks > 0 || live.stats) {
      const n = live.stats?.completionTokens ?? chunks;
      live.stats = {
        ...live.stats,
        completionTokens: n,
        estimated: !live.stats,
        seconds: ((tLast || performance.now()) - t0) / 1000,
        // The server's own decode speed when it sends one; else measured here from the arrivals after the first.
        tokensPerSecond: serverSpeed ?? (n > 1 && tLast > tFirst ? ((n - 1) * 1000) / (tLast - tFirst) : undefined),
      };
    }
    patchMessage(conv.id, index, { ...live });
    setBusy(null);
  }

  function send(text: string) {
    if (busy || !text.trim()) return;
    let conv = current;
    if (!conv) {
      conv = store.newConversation();
      const c = conv;
      setConvs((cs) => [c, ...cs]);
      setCurrentId(c.id);
    }
    const user: Message = { role: 'user', content: text };
    if (conv.messages.length === 0) {
      conv = { ...conv, title: store.titleFrom(text) };
      const c = conv;
      setConvs((cs) => cs.map((x) => (x.id === c.id ? c : x)));
    }
    setInput('');
    void generate(conv, [...conv.messages, user]);
  }

  const regenerate = () => {
    if (!current || busy) return;
    const last = current.messages.length - 1;
    if (last >= 0 && current.messages[last].role === 'assistant') void generate(current, current.messages.slice(0, last));
  };
  const editLast = (text: string) => {
    if (!current || busy || !text.trim()) return;
    const i = current.messages.map((m) => m.role).lastIndexOf('user');
    if (i >= 0) void generate(current, [...current.messages.slice(0, i), { role: 'user', content: text }]);
  };
  const newChat = () => {
    const c = store.newConversation();
    setConvs((cs) => [c, ...cs]);
    setCurrentId(c.id);
    setSidebarOpen(false);
    inputRef.current?.focus();
  };
  const remove = (id: string) => {
    if (busy?.convId === id) busy.controller.abort();
    const rest = convs.filter((c) => c.id !== id);
    setConvs(rest);
    if (currentId === id) setCurrentId(rest[0]?.id ?? null);
  };
  const rename = (id: string, title: string) => {
    setConvs((cs) => cs.map((c) => (c.id === id ? { ...c, title: title.trim() || c.title } : c)));
    setRenaming(null);
  };
  const exportConv = (c: Conversation) =>
    download(`${c.title.replace(/[^\w.-]+/g, '_').slice(0, 60) || 'conversation'}.json`, { ...c, system: settings.system, exported: new Date().toISOString() });

  const onListClick = (e: MouseEvent) => {
    const b = (e.target as HTMLElement).closest('button[data-copy]') as HTMLButtonElement | null;
    if (!b) return;
    const code = b.closest('.code')?.querySelector('code')?.textContent ?? '';
    copyText(code).then(() => {
      b.textContent = 'Copied';
      setTimeout(() => (b.textContent = 'Copy'), 1500);
    }, () => (b.textContent = 'Copy failed'));
  };

  const streamingHere = busy !== null && busy.convId === currentId;
  const msgs = current?.messages ?? [];
  const lastUser = msgs.map((m) => m.role).lastIndexOf('user');

  return (
    <div class={`app${sidebarOpen ? ' sidebar-open' : ''}`}>
      <nav class="sidebar" aria-label="Conversations">
        <button type="button" class="primary new" onClick={newChat}>New chat</button>
        <ul>
          {convs.map((c) => (
            <li key={c.id} class={c.id === currentId ? 'current' : ''}>
              {renaming?.id === c.id ? (
                <form class="rename" onSubmit={(e) => (e.preventDefault(), rename(c.id, renaming.title))}>
                  <input aria-label="Conversation title" value={renaming.title} autoFocus
                    onInput={(e) => setRenaming({ id: c.id, title: e.currentTarget.value })}
                    onKeyDown={(e) => e.key === 'Escape' && setRenaming(null)} />
                  <button type="submit">Save</button>
                </form>
              ) : (
                <>
                  <button type="button" class="conv" aria-current={c.id === currentId ? 'page' : undefined}
                    onClick={() => (setCurrentId(c.id), setSidebarOpen(false))}>{c.title}</button>
                  <span class="conv-actions">
                    <button type="button" class="icon" aria-label={`Rename ${c.title}`} title="Rename" onClick={() => setRenaming({ id: c.id, title: c.title })}>✎</button>
                    <button type="button" class="icon" aria-label={`Export ${c.title}`} title="Export as JSON" onClick={() => exportConv(c)}>⤓</button>
                    <button type="button" class="icon" aria-label={`Delete ${c.title}`} title="Delete" onClick={() => remove(c.id)}>✕</button>
                  </span>
                </>
              )}
            </li>
          ))}
        </ul>
      </nav>
      <main class="main">
        <header>
          <button type="button" class="icon menu" aria-label="Conversations" aria-expanded={sidebarOpen} onClick={() => setSidebarOpen(!sidebarOpen)}>☰</button>
          <h1>{current?.title ?? 'qwen3'}</h1>
          <label class="switch">
            <input type="checkbox" role="switch" checked={settings.thinking} onChange={(e) => setSettings({ ...settings, thinking: e.currentTarget.checked })} />
            <span>Thinking</span>
          </label>
          <button type="button" onClick={() => setSettingsOpen(true)}>Settings</button>
        </header>
        {banner && <div class="error banner" role="alert">{banner}</div>}
        <div class="messages" ref={listRef} onClick={onListClick} aria-label="Messages" role="region" tabIndex={0}
          onScroll={(e) => {
            const el = e.currentTarget;
            stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          }}>
          {msgs.length === 0 && <p class="empty">Ask anything. Enter sends, Shift+Enter starts a new line.</p>}
          {msgs.map((m, i) => (
            <MessageView key={`${currentId}-${i}`} m={m} streaming={streamingHere && i === msgs.length - 1}
              canRegenerate={!busy && m.role === 'assistant' && i === msgs.length - 1}
              canEdit={!busy && m.role === 'user' && i === lastUser}
              onRegenerate={regenerate} onEdit={editLast} />
          ))}
        </div>
        <form class="composer" onSubmit={(e) => (e.preventDefault(), send(input))}>
          <label class="sr-only" for="prompt">Message</label>
          <textarea id="prompt" ref={inputRef} rows={2} value={input} placeholder="Message qwen3"
            onInput={(e) => setInput(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                send(input);
              }
            }} />
          {busy ? (
            <button type="button" class="stop" onClick={() => busy.controller.abort()}>Stop</button>
          ) : (
            <button type="submit" class="primary" disabled={!input.trim()}>Send</button>
          )}
        </form>
      </main>
      <Modal open={settingsOpen} onClose={() => setSettingsOpen(false)} label="Settings">
        <SettingsForm settings={settings} setSettings={setSettings} models={models} apiKey={apiKey} setApiKey={setApiKey}
          onDone={() => (setSettingsOpen(false), loadModels(apiKey))} />
      </Modal>
      <Modal open={keyPrompt !== null} onClose={() => setKeyPrompt(null)} label="API key">
        <KeyPrompt message={keyPrompt ?? ''} onSave={(k) => (setApiKey(k), loadModels(k).then((ok) => ok && setKeyPrompt(null)))} />
      </Modal>
    </div>
  );
}

// The page's static shell (web/build.mjs) is painted before this runs; the app replaces it.
const root = document.getElementById('app')!;
root.textContent = '';
render(<App />, root);
performance.mark('qwen3-app-rendered');  // bench/web/first_paint.mjs reads it
