/**
 * Chat with any model the user may use, through the gateway itself (/ai/v1/chat/completions)
 * with the user's playground key — held in memory only and rotated on each visit — streaming,
 * with each turn's tokens, timings and cost (read back from the usage log once metered).
 */
import { useMutation, useQuery } from "@tanstack/react-query";
import { createParser } from "eventsource-parser";
import { Bot, Eraser, Send, User } from "lucide-react";
import { useRef, useState } from "react";
import * as z from "zod";
import { api, unwrap } from "@/api/client";
import { playgroundKey } from "@/api/console";
import { Field } from "@/components/field";
import { Loading, PageHeader, QueryError } from "@/components/page";
import { Button } from "@/components/ui/button";
import { Card, CardContent } from "@/components/ui/card";
import { NativeSelect } from "@/components/ui/native-select";
import { Textarea } from "@/components/ui/textarea";
import { credits, ms, num } from "@/lib/format";

interface Turn {
  role: "user" | "assistant";
  content: string;
  model?: string;
  usage?: { prompt_tokens: number; completion_tokens: number };
  ttfbMs?: number;
  totalMs?: number;
  cost?: string | null;
  error?: string;
}

const Models = z.object({ data: z.array(z.object({ id: z.string() })) });
const Chunk = z.object({
  choices: z.array(z.object({ delta: z.object({ content: z.string().nullable().optional() }).partial() })).optional(),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).nullable().optional(),
});

export default function Playground() {
  const key = useQuery({ queryKey: ["playground-key"], queryFn: playgroundKey, staleTime: Infinity, gcTime: Infinity, retry: false });
  const models = useQuery({
    queryKey: ["playground-models", key.data?.key_id],
    enabled: !!key.data,
    queryFn: async () => {
      const res = await fetch("/ai/v1/models", { headers: { Authorization: `Bearer ${key.data!.key}` } });
      if (!res.ok) throw new Error(`Listing models failed: ${res.status}`);
      return Models.parse(await res.json()).data.map((m) => m.id);
    },
  });
  const [model, setModel] = useState("");
  const [input, setInput] = useState("");
  const [turns, setTurns] = useState<Turn[]>([]);
  const log = useRef<HTMLDivElement>(null);
  const chosen = model || models.data?.[0] || "";

  const update = (i: number, patch: Partial<Turn>) => setTurns((ts) => ts.map((t, j) => (j === i ? { ...t, ...patch } : t)));
  const send = useMutation({
    mutationFn: async (history: Turn[]) => {
      const index = history.length;
      setTurns([...history, { role: "assistant", content: "", model: chosen }]);
      const started = performance.now();
      const startedAt = new Date(Date.now() - 1000).toISOString();
      const res = await fetch("/ai/v1/chat/completions", {
        method: "POST",
        headers: { Authorization: `Bearer ${key.data!.key}`, "Content-Type": "application/json" },
        body: JSON.stringify({ model: chosen, stream: true, stream_options: { include_usage: true }, messages: history.map((t) => ({ role: t.role, content: t.content })) }),
      });
      if (!res.ok || !res.body) {
        const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
        update(index, { error: body?.error?.message ?? `${res.status} ${res.statusText}` });
        return;
      }
      let content = "";
      let ttfb: number | undefined;
      let usage: Turn["usage"];
      const parser = createParser({
        onEvent(ev) {
          if (ev.data === "[DONE]") return;
          const chunk = Chunk.safeParse(JSON.parse(ev.data));
          if (!chunk.success) return;
          const delta = chunk.data.choices?.[0]?.delta?.content;
          if (delta) {
            ttfb ??= performance.now() - started;
            content += delta;
            update(index, { content, ttfbMs: ttfb });
            log.current?.scrollTo({ top: log.current.scrollHeight });
          }
          if (chunk.data.usage) usage = chunk.data.usage;
        },
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
      update(index, { content, usage, totalMs: performance.now() - started });
      // The cost is known once the consumer has metered the request (usually well under a second).
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const rows = unwrap(await api.GET("/admin/api/v1/requests", { params: { query: { api_key_id: key.data!.key_id, created_after: startedAt, limit: 1 } } }));
        const row = rows.data[0];
        if (row) {
          update(index, { cost: row.total_cost ?? "0" });
          return;
        }
      }
      update(index, { cost: null });
    },
  });

  const submit = () => {
    if (!input.trim() || !chosen || send.isPending) return;
    const history: Turn[] = [...turns.filter((t) => !t.error), { role: "user", content: input.trim() }];
    setInput("");
    send.mutate(history);
  };

  return (
    <>
      <PageHeader
        title="Playground"
        description="Chat with any model you may use, through the gateway, billed like any request (playground tariff)."
        actions={
          <>
            <NativeSelect aria-label="Model" value={chosen} onChange={(e) => setModel(e.target.value)} disabled={!models.data?.length}>
              {(models.data ?? []).map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </NativeSelect>
            <Button variant="outline" onClick={() => setTurns([])} disabled={turns.length === 0 || send.isPending}>
              <Eraser aria-hidden /> Clear
            </Button>
          </>
        }
      />
      {key.error && <QueryError error={key.error} title="No playground key" />}
      {models.error && <QueryError error={models.error} />}
      {key.isPending && <Loading rows={2} label="Loading playground" />}
      <Card className="py-0">
        <CardContent className="p-0">
          <div ref={log} role="log" aria-label="Conversation" aria-live="polite" className="h-[50vh] space-y-4 overflow-y-auto p-5">
            {turns.length === 0 && <p className="text-muted-foreground py-16 text-center text-sm">Send a message to start. Each answer shows its tokens, time to first token and cost.</p>}
            {turns.map((t, i) => (
              <div key={i} className="flex gap-3">
                <div className={`flex size-7 shrink-0 items-center justify-center rounded-full ${t.role === "user" ? "bg-secondary" : "bg-primary text-primary-foreground"}`}>
                  {t.role === "user" ? <User aria-hidden className="size-4" /> : <Bot aria-hidden className="size-4" />}
                </div>
                <div className="min-w-0 flex-1">
                  <p className="text-muted-foreground text-xs">{t.role === "user" ? "You" : t.model}</p>
                  {t.error ? (
                    <p role="alert" className="text-destructive text-sm">
                      {t.error}
                    </p>
                  ) : (
                    <p className="text-sm whitespace-pre-wrap">{t.content || (t.role === "assistant" ? "…" : "")}</p>
                  )}
                  {t.role === "assistant" && t.usage && (
                    <p className="text-muted-foreground mt-1 text-xs" data-turn-usage>
                      {num(t.usage.prompt_tokens)} in · {num(t.usage.completion_tokens)} out · first token {ms(t.ttfbMs)} · total {ms(t.totalMs)} · cost{" "}
                      {t.cost === undefined ? "metering…" : t.cost === null ? "not metered yet" : credits(t.cost, 6)}
                    </p>
                  )}
                </div>
              </div>
            ))}
          </div>
          <form
            className="flex items-end gap-2 border-t p-4"
            onSubmit={(e) => {
              e.preventDefault();
              submit();
            }}
          >
            <div className="flex-1">
              <Field label="Message">
                {(id) => (
                  <Textarea
                    id={id}
                    rows={2}
                    value={input}
                    placeholder="Ask something… (Enter sends, Shift+Enter for a new line)"
                    onChange={(e) => setInput(e.target.value)}
                    onKeyDown={(e) => {
                      if (e.key === "Enter" && !e.shiftKey) {
                        e.preventDefault();
                        submit();
                      }
                    }}
                  />
                )}
              </Field>
            </div>
            <Button type="submit" disabled={!input.trim() || !chosen || send.isPending || !key.data}>
              <Send aria-hidden /> Send
            </Button>
          </form>
        </CardContent>
      </Card>
    </>
  );
}
