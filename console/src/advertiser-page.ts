/**
 * The advertiser console: pick a partner and a file; the file is hashed in this tab and previewed;
 * the pre-match checks; upload of the hashes only, the match with its progress, the result; the
 * earlier matches, newest first.
 */

import type { BudgetView } from '../../cli/budget-notice.ts';
import type { IdentifierKind, Profile } from '../../shared/domain/model.ts';
import { ApiProblem, type ConsoleApi, poll, type UploadTicket, uploadBlob } from './api.ts';
import { budgetCheck } from './budget.ts';
import { definitionList, h, message, progressBar } from './dom.ts';
import { type HashedList, hashListFile, UnreadableFile } from './file-hashing.ts';
import { num } from './format.ts';
import type { Identity } from './identity.ts';
import { reasonInWords } from './reasons.ts';
import type { MatchView, ReleasedResult } from './released-result.ts';
import { resultView } from './result-view.ts';

interface PartnerEntry {
  partnerId: string;
  profile: Profile;
  baseSize: number;
  segments: { segmentId: string; name: string; size: number }[];
}

const errorText = (error: unknown) =>
  error instanceof ApiProblem || error instanceof UnreadableFile
    ? error.message
    : 'Something went wrong; try again.';

export async function advertiserPage(root: HTMLElement, api: ConsoleApi, me: Identity): Promise<void> {
  const partnerSelect = h('select', { id: 'partner', name: 'partner', required: true });
  const fileInput = h('input', {
    id: 'list-file',
    name: 'list-file',
    type: 'file',
    accept: '.csv,.txt,.tsv,text/csv,text/plain',
  });
  const kindSelect = h(
    'select',
    { id: 'kind', name: 'kind' },
    h('option', { value: 'email' }, 'Email addresses'),
    h('option', { value: 'phone' }, 'Phone numbers'),
  );
  const regionInput = h('input', {
    id: 'region',
    name: 'region',
    value: 'US',
    maxlength: 2,
    pattern: '[A-Za-z]{2}',
    autocomplete: 'country',
    size: 3,
  });
  const kInput = h('input', {
    id: 'k',
    name: 'k',
    type: 'number',
    min: 20,
    max: 200,
    step: 1,
    inputmode: 'numeric',
  });
  const columnField = h('div', { class: 'field', hidden: true });
  const hashing = progressBar('Hashing in this browser');
  hashing.el.hidden = true;
  const preview = h('section', { class: 'card', 'aria-labelledby': 'preview-title', hidden: true });
  const run = h('section', { class: 'card', 'aria-labelledby': 'run-title', hidden: true });
  const resultSlot = h('div');
  const history = h('section', { class: 'card', 'aria-labelledby': 'history-title' });
  const formMessages = h('div');

  let partners: PartnerEntry[] = [];
  let hashed: HashedList | undefined;
  let column: string | undefined;

  const partner = () => partners.find((p) => p.partnerId === partnerSelect.value);

  async function loadPartners() {
    try {
      partners = (await api.get<{ partners: PartnerEntry[] }>('/v1/partners')).partners.filter(
        (p) => p.segments.length > 0,
      );
      partnerSelect.replaceChildren(
        ...partners.map((p) =>
          h(
            'option',
            { value: p.partnerId },
            `${p.partnerId} · ${p.segments.length} segments · ${p.profile} hashing`,
          ),
        ),
      );
      if (partners.length === 0)
        formMessages.replaceChildren(message('note', 'No partner has published audiences yet.'));
    } catch (error) {
      formMessages.replaceChildren(message('error', errorText(error)));
    }
  }

  async function hashFile() {
    const file = fileInput.files?.[0];
    const p = partner();
    formMessages.replaceChildren();
    preview.hidden = true;
    run.hidden = true;
    hashed = undefined;
    if (!file || !p) return;
    hashing.el.hidden = false;
    hashing.set(0);
    try {
      hashed = await hashListFile(
        file,
        {
          profile: p.profile,
          kind: kindSelect.value as IdentifierKind,
          region: (regionInput.value.toUpperCase() || 'US') as never,
          column,
        },
        (f) => hashing.set(f),
      );
      hashing.set(1, `${num(hashed.summary.rows)} rows`);
      await showPreview(hashed, p);
    } catch (error) {
      hashing.el.hidden = true;
      formMessages.replaceChildren(message('error', errorText(error)));
    }
  }

  async function showPreview(list: HashedList, p: PartnerEntry) {
    const s = list.summary;
    const reasons = Object.entries(s.invalidByReason);
    const columns = list.columns;
    if (columns.length > 1) {
      const select = h(
        'select',
        {
          id: 'column',
          name: 'column',
          onchange: (e: Event) => {
            column = (e.target as HTMLSelectElement).value;
            void hashFile();
          },
        },
        ...columns.map((c) =>
          h(
            'option',
            { value: c.name, selected: c.name === list.layout.column },
            `${c.name} (${c.hashed ? 'hashed ' : ''}${c.kind})`,
          ),
        ),
      );
      columnField.replaceChildren(h('label', { for: 'column' }, 'Identifier column'), select);
      columnField.hidden = false;
    } else columnField.hidden = true;

    let budgetText = 'checking…';
    let exhausted = false;
    try {
      const check = budgetCheck(
        await api.get<BudgetView>(`/v1/partners/${encodeURIComponent(p.partnerId)}/budget`),
      );
      budgetText = check.text;
      exhausted = check.exhausted;
    } catch (error) {
      budgetText = errorText(error);
    }
    const k = kInput.value ? Number(kInput.value) : undefined;
    const checks: { ok: boolean; text: string }[] = [
      {
        ok: p.segments.length > 0,
        text: `Partner ${p.partnerId}: ${p.segments.length} segments, ${num(p.baseSize)} people`,
      },
      {
        ok: true,
        text: `Hashed with the partner’s ${p.profile} profile, as ${kindSelect.value === 'phone' ? 'phone numbers' : 'email addresses'}`,
      },
      {
        ok: k === undefined || (k >= 20 && k <= 200),
        text:
          k === undefined
            ? 'Minimum segment size: the service default'
            : `Minimum segment size ${k} (20 to 200; the service may require more)`,
      },
      {
        ok: !exhausted,
        text: exhausted
          ? `Privacy budget exhausted: ${budgetText}. Re-running a list already matched is free; the operator can grant more.`
          : `Privacy budget: ${budgetText}`,
      },
      {
        ok: s.distinct >= 1000,
        text: `${num(s.distinct)} distinct valid identifiers (lists under the service minimum, 1,000 by default, are refused)`,
      },
    ];
    preview.replaceChildren(
      h('h2', { id: 'preview-title' }, '2. Preview'),
      message(
        'note',
        'Nothing has left this browser yet. Only the hashes are uploaded when you start the match.',
      ),
      definitionList([
        {
          label: 'Format',
          value:
            list.layout.mode === 'csv'
              ? `CSV (${list.layout.delimiter === '\t' ? 'tab' : list.layout.delimiter}-separated)`
              : 'one identifier a line',
        },
        { label: 'Identifier column', value: list.layout.column ?? '—' },
        {
          label: 'Detected identifier columns',
          value: columns.length
            ? columns.map((c) => `${c.name} (${c.hashed ? 'hashed ' : ''}${c.kind})`).join(', ')
            : '—',
        },
        { label: 'Rows', value: num(s.rows) },
        { label: 'Valid', value: num(s.valid) },
        { label: 'Invalid', value: num(s.invalid) },
        { label: 'Duplicates', value: num(s.duplicates) },
        { label: 'Distinct', value: num(s.distinct) },
      ]),
      columnField,
      ...(reasons.length
        ? [
            h(
              'div',
              { class: 'table-wrap' },
              h(
                'table',
                {},
                h('caption', {}, 'Invalid rows by reason (never hashed, never sent)'),
                h(
                  'thead',
                  {},
                  h('tr', {}, h('th', { scope: 'col' }, 'Reason'), h('th', { scope: 'col' }, 'Rows')),
                ),
                h(
                  'tbody',
                  {},
                  ...reasons.map(([reason, count]) =>
                    h('tr', {}, h('th', { scope: 'row' }, reasonInWords(reason)), h('td', {}, num(count))),
                  ),
                ),
              ),
            ),
          ]
        : []),
      h('h3', {}, 'Checks before the match'),
      h(
        'ul',
        { class: 'checks' },
        ...checks.map((c) =>
          h(
            'li',
            { class: c.ok ? 'ok' : 'fail' },
            h('span', { class: 'visually-hidden' }, c.ok ? 'passed: ' : 'problem: '),
            c.text,
          ),
        ),
      ),
      h(
        'button',
        {
          type: 'button',
          id: 'start-match',
          class: 'primary',
          disabled: exhausted || s.valid === 0,
          onclick: () => void startMatch(),
        },
        'Upload hashes and start the match',
      ),
    );
    preview.hidden = false;
  }

  async function startMatch() {
    const p = partner();
    if (!hashed || !p) return;
    const upload = progressBar('Uploading hashes');
    const matching = progressBar('Matching');
    const status = h('div');
    run.replaceChildren(h('h2', { id: 'run-title' }, '3. Upload and match'), upload.el, matching.el, status);
    run.hidden = false;
    (preview.querySelector('#start-match') as HTMLButtonElement | null)?.setAttribute('disabled', '');
    resultSlot.replaceChildren();
    try {
      const created = await api.post<{ listId: string; upload: UploadTicket }>('/v1/lists', {
        format: 'hashed',
        profile: p.profile,
        kind: kindSelect.value,
        summary: hashed.summary,
      });
      await uploadBlob(created.upload, hashed.upload, (f) => upload.set(f));
      const k = kInput.value ? Number(kInput.value) : undefined;
      const started = await api.post<{ matchId: string }>('/v1/matches', {
        listId: created.listId,
        partnerId: p.partnerId,
        ...(k ? { minSegmentSize: k } : {}),
      });
      const match = await poll(
        () => api.get<MatchView>(`/v1/matches/${encodeURIComponent(started.matchId)}`),
        (m) => m.status === 'SUCCEEDED' || m.status === 'FAILED',
        (m) => matching.set(m.progress.percent / 100, m.progress.phase),
      );
      void loadHistory();
      if (match.status === 'FAILED')
        status.append(
          message('error', `The match failed: ${match.detail ?? match.code ?? 'no reason given'}`),
        );
      else showResult(match);
    } catch (error) {
      status.append(message('error', errorText(error)));
    }
  }

  function showResult(match: MatchView) {
    if (!match.result) return;
    resultSlot.replaceChildren(resultView(api, match as MatchView & { result: ReleasedResult }));
    (resultSlot.querySelector('#result-title') as HTMLElement | null)?.focus();
  }

  async function open(matchId: string) {
    try {
      const match = await api.get<MatchView>(`/v1/matches/${encodeURIComponent(matchId)}`);
      if (match.result) showResult(match);
      else
        resultSlot.replaceChildren(
          message(
            match.status === 'FAILED' ? 'error' : 'note',
            `Match ${matchId} is ${match.status.toLowerCase()}${match.detail ? `: ${match.detail}` : ''}`,
          ),
        );
    } catch (error) {
      resultSlot.replaceChildren(message('error', errorText(error)));
    }
  }

  async function loadHistory() {
    try {
      const { matches } = await api.get<{ matches: Omit<MatchView, 'result'>[] }>('/v1/matches?limit=20');
      history.replaceChildren(
        h('h2', { id: 'history-title' }, 'Earlier matches'),
        matches.length === 0
          ? h('p', {}, 'None yet.')
          : h(
              'div',
              { class: 'table-wrap' },
              h(
                'table',
                { id: 'history' },
                h('caption', { class: 'visually-hidden' }, 'Your matches, newest first'),
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    h('th', { scope: 'col' }, 'Started'),
                    h('th', { scope: 'col' }, 'Partner'),
                    h('th', { scope: 'col' }, 'Status'),
                    h('th', { scope: 'col' }, 'Result'),
                  ),
                ),
                h(
                  'tbody',
                  {},
                  ...matches.map((m) =>
                    h(
                      'tr',
                      {},
                      h(
                        'td',
                        {},
                        h('time', { datetime: m.createdAt }, new Date(m.createdAt).toLocaleString('en-GB')),
                      ),
                      h('td', {}, m.partnerId),
                      h('td', {}, m.status.toLowerCase()),
                      h(
                        'td',
                        {},
                        m.status === 'SUCCEEDED'
                          ? h(
                              'button',
                              { type: 'button', class: 'link', onclick: () => void open(m.matchId) },
                              `Open ${m.matchId.slice(-6)}`,
                            )
                          : (m.detail ?? ''),
                      ),
                    ),
                  ),
                ),
              ),
            ),
      );
    } catch (error) {
      history.replaceChildren(
        h('h2', { id: 'history-title' }, 'Earlier matches'),
        message('error', errorText(error)),
      );
    }
  }

  fileInput.addEventListener('change', () => {
    column = undefined;
    void hashFile();
  });
  kindSelect.addEventListener('change', () => {
    column = undefined;
    void hashFile();
  });
  partnerSelect.addEventListener('change', () => void hashFile());
  regionInput.addEventListener('change', () => void hashFile());
  kInput.addEventListener('change', () => {
    const p = partner();
    if (hashed && p) void showPreview(hashed, p);
  });

  root.replaceChildren(
    h('h1', {}, `Audience match · ${me.tenantId}`),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'pick-title' },
      h('h2', { id: 'pick-title' }, '1. Choose a partner and your list'),
      h(
        'p',
        { class: 'hint' },
        'Your file is read, normalized and hashed in this browser. Raw emails and phone numbers never leave it.',
      ),
      h(
        'div',
        { class: 'grid' },
        h('div', { class: 'field' }, h('label', { for: 'partner' }, 'Partner'), partnerSelect),
        h('div', { class: 'field' }, h('label', { for: 'kind' }, 'Identifiers'), kindSelect),
        h(
          'div',
          { class: 'field' },
          h('label', { for: 'region' }, 'Country of phones without +'),
          regionInput,
        ),
        h('div', { class: 'field' }, h('label', { for: 'k' }, 'Minimum segment size (optional)'), kInput),
      ),
      h(
        'div',
        { class: 'field' },
        h('label', { for: 'list-file' }, 'Customer list (CSV, or one identifier a line)'),
        fileInput,
      ),
      hashing.el,
      formMessages,
    ),
    preview,
    run,
    resultSlot,
    history,
  );
  await Promise.all([loadPartners(), loadHistory()]);
}
