/**
 * The partner console: the catalog as advertisers see it; a members file (hashed in this tab when
 * it holds raw emails or phones) uploaded for the segments it names, each declared with a name;
 * the ingest report.
 */
import { PROFILES, type Profile } from '../../shared/domain/model.ts';
import { ApiProblem, type ConsoleApi, poll, type UploadTicket, uploadBlob } from './api.ts';
import { definitionList, h, message, progressBar } from './dom.ts';
import { type HashedMembers, hashMembersFile, UnreadableFile } from './file-hashing.ts';
import { num } from './format.ts';
import type { Identity } from './identity.ts';
import { reasonInWords } from './reasons.ts';

interface Catalog {
  partnerId: string;
  profile: Profile;
  baseSize: number;
  segments: { segmentId: string; name: string; description: string; size: number }[];
}

interface IngestView {
  audienceId: string;
  status: 'AWAITING_UPLOAD' | 'INGESTING' | 'SUCCEEDED' | 'FAILED';
  report?: {
    rowsRead: number;
    accepted: number;
    rejected: number;
    duplicates: number;
    rejectedByRule: Record<string, { count: number; rows: number[] }>;
    segments: { segmentId: string; members: number; version: number }[];
  };
  code?: string;
  detail?: string;
}

const errorText = (error: unknown) =>
  error instanceof ApiProblem || error instanceof UnreadableFile
    ? error.message
    : 'Something went wrong; try again.';

export function ingestReportView(view: IngestView): HTMLElement {
  const r = view.report;
  const ok = view.status === 'SUCCEEDED';
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'report-title' },
    h('h2', { id: 'report-title', tabindex: -1 }, 'Ingest report'),
    message(
      ok ? 'ok' : 'error',
      ok
        ? 'The segments were replaced with this file.'
        : `The file was not ingested: ${view.detail ?? view.code ?? 'no reason given'}. Nothing was changed.`,
    ),
    r
      ? definitionList([
          { label: 'Rows read', value: num(r.rowsRead) },
          { label: 'Accepted', value: num(r.accepted) },
          { label: 'Rejected', value: num(r.rejected) },
          { label: 'Duplicate rows', value: num(r.duplicates) },
          ...Object.entries(r.rejectedByRule).map(([rule, { count, rows }]) => ({
            label: `Rejected: ${reasonInWords(rule)}`,
            value: `${num(count)} (rows ${rows.join(', ')}${count > rows.length ? ', …' : ''})`,
          })),
          ...r.segments.map((s) => ({ label: `Segment ${s.segmentId}`, value: `${num(s.members)} members` })),
        ])
      : null,
  );
}

export async function partnerPage(root: HTMLElement, api: ConsoleApi, me: Identity): Promise<void> {
  const partnerId = me.tenantId;
  const catalogSection = h('section', { class: 'card', 'aria-labelledby': 'catalog-title' });
  const profileSelect = h(
    'select',
    { id: 'profile', name: 'profile' },
    ...PROFILES.map((p) => h('option', { value: p }, p)),
  );
  const fileInput = h('input', {
    id: 'members-file',
    name: 'members-file',
    type: 'file',
    accept: '.csv,text/csv',
  });
  const hashing = progressBar('Reading the file in this browser');
  hashing.el.hidden = true;
  const segmentsForm = h('div');
  const messages = h('div');
  const reportSlot = h('div');
  let catalog: Catalog | undefined;
  let members: HashedMembers | undefined;

  async function loadCatalog() {
    try {
      const { partners } = await api.get<{ partners: Catalog[] }>('/v1/partners');
      catalog = partners.find((p) => p.partnerId === partnerId);
      if (catalog) {
        profileSelect.value = catalog.profile;
        profileSelect.disabled = true;
      }
      catalogSection.replaceChildren(
        h('h2', { id: 'catalog-title' }, 'Your catalog, as advertisers see it'),
        !catalog
          ? h('p', {}, 'No segments yet: upload a members file below.')
          : h(
              'div',
              { class: 'table-wrap' },
              h(
                'table',
                { id: 'catalog' },
                h('caption', {}, `${num(catalog.baseSize)} people, ${catalog.profile} hashing`),
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    h('th', { scope: 'col' }, 'Segment'),
                    h('th', { scope: 'col' }, 'Id'),
                    h('th', { scope: 'col' }, 'People'),
                  ),
                ),
                h(
                  'tbody',
                  {},
                  ...catalog.segments.map((s) =>
                    h(
                      'tr',
                      {},
                      h('th', { scope: 'row' }, s.name),
                      h('td', {}, s.segmentId),
                      h('td', {}, num(s.size)),
                    ),
                  ),
                ),
              ),
            ),
      );
    } catch (error) {
      catalogSection.replaceChildren(
        h('h2', { id: 'catalog-title' }, 'Your catalog'),
        message('error', errorText(error)),
      );
    }
  }

  async function readFile() {
    const file = fileInput.files?.[0];
    messages.replaceChildren();
    segmentsForm.replaceChildren();
    members = undefined;
    if (!file) return;
    hashing.el.hidden = false;
    hashing.set(0);
    try {
      members = await hashMembersFile(file, profileSelect.value as Profile, (f) => hashing.set(f));
      hashing.set(1, `${num(members.summary.rows)} rows`);
      showSegments(members);
    } catch (error) {
      hashing.el.hidden = true;
      messages.replaceChildren(message('error', errorText(error)));
    }
  }

  function showSegments(m: HashedMembers) {
    const s = m.summary;
    const rows = m.segmentIds.map((id, i) => {
      const known = catalog?.segments.find((x) => x.segmentId === id);
      return h(
        'fieldset',
        { class: 'segment' },
        h('legend', {}, `Segment ${id}`),
        h(
          'div',
          { class: 'field' },
          h('label', { for: `seg-name-${i}` }, 'Name'),
          h('input', {
            id: `seg-name-${i}`,
            'data-segment': id,
            required: true,
            maxlength: 120,
            value: known?.name ?? id,
          }),
        ),
        h(
          'div',
          { class: 'field' },
          h('label', { for: `seg-desc-${i}` }, 'Description'),
          h('input', {
            id: `seg-desc-${i}`,
            'data-description': id,
            maxlength: 1000,
            value: known?.description ?? '',
          }),
        ),
      );
    });
    segmentsForm.replaceChildren(
      message(
        'note',
        m.wasRaw
          ? 'The file held raw identifiers: they were hashed in this browser, and only the hashes will be uploaded.'
          : 'The file holds hashes: they are uploaded as they are.',
      ),
      definitionList([
        { label: 'Rows', value: num(s.rows) },
        { label: 'Valid', value: num(s.valid) },
        {
          label: 'Invalid',
          value: `${num(s.invalid)}${
            Object.keys(s.invalidByReason).length
              ? ` (${Object.entries(s.invalidByReason)
                  .map(([r, c]) => `${reasonInWords(r)}: ${num(c)}`)
                  .join(', ')})`
              : ''
          }`,
        },
      ]),
      h('p', {}, 'These segments will be replaced by this file:'),
      ...rows,
      h(
        'button',
        { type: 'submit', class: 'primary', disabled: rows.length === 0 },
        'Upload and replace these segments',
      ),
    );
  }

  async function upload(e: Event) {
    e.preventDefault();
    if (!members) return;
    const segments = members.segmentIds.map((segmentId) => ({
      segmentId,
      name:
        (form.querySelector(`[data-segment="${segmentId}"]`) as HTMLInputElement).value.trim() || segmentId,
      description: (form.querySelector(`[data-description="${segmentId}"]`) as HTMLInputElement).value.trim(),
    }));
    const bar = progressBar('Uploading');
    const waiting = progressBar('Ingesting');
    reportSlot.replaceChildren(bar.el, waiting.el);
    try {
      const created = await api.post<{ audienceId: string; upload: UploadTicket }>(
        `/v1/partners/${encodeURIComponent(partnerId)}/audiences`,
        { profile: profileSelect.value, segments },
      );
      await uploadBlob(created.upload, members.upload, (f) => bar.set(f));
      const view = await poll(
        () =>
          api.get<IngestView>(
            `/v1/partners/${encodeURIComponent(partnerId)}/audiences/${encodeURIComponent(created.audienceId)}`,
          ),
        (v) => v.status === 'SUCCEEDED' || v.status === 'FAILED',
        (v) =>
          waiting.set(v.status === 'SUCCEEDED' || v.status === 'FAILED' ? 1 : 0.5, v.status.toLowerCase()),
      );
      reportSlot.replaceChildren(ingestReportView(view));
      (reportSlot.querySelector('#report-title') as HTMLElement | null)?.focus();
      await loadCatalog();
    } catch (error) {
      reportSlot.replaceChildren(message('error', errorText(error)));
    }
  }

  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'upload-title', onsubmit: (e: Event) => void upload(e) },
    h('h2', { id: 'upload-title' }, 'Replace segments with a members file'),
    h(
      'p',
      { class: 'hint' },
      'A CSV with an identifier column (email, phone, or sha256) and a segment_id column. Raw identifiers are hashed in this browser with your profile.',
    ),
    h('div', { class: 'field' }, h('label', { for: 'profile' }, 'Hashing profile'), profileSelect),
    h('div', { class: 'field' }, h('label', { for: 'members-file' }, 'Members file'), fileInput),
    hashing.el,
    messages,
    segmentsForm,
  );
  fileInput.addEventListener('change', () => void readFile());
  profileSelect.addEventListener('change', () => void readFile());
  root.replaceChildren(h('h1', {}, `Partner audiences · ${partnerId}`), catalogSection, form, reportSlot);
  await loadCatalog();
}
