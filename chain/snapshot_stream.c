/* Snapshots parsed as they are read: memory stays small whatever the size of
 * $.accounts, and the results and problems are those of chain_snapshot_parse, word for word.
 *
 * How: the bytes go to jansson's own loader (json_load_callback) through a small scanner. The
 * scanner follows strings and nesting and finds each element of the root's "accounts" array;
 * an element is held back until it is complete, parsed on its own with jansson, validated
 * (chain_snapshot_parse_account_) and spooled to a temporary file, and jansson is then given a
 * stand-in with the same lines and columns ("null" or "0" padded with spaces, newlines kept), so
 * its tree holds one null per account instead of the account. Everything else (the small
 * sections, the syntax checks and their messages with line and column, duplicate keys) is
 * jansson's, exactly as for a document in memory; the sections are then validated from that tree
 * by the same code (chain_snapshot_parse_root_), with the accounts' problems put in at the place
 * chain_snapshot_parse reports them. An element that cannot be handled on its own (not an
 * object, invalid on its own, deeper or longer than the limits) is passed through unchanged and
 * so is every later element of the array: they are validated from jansson's tree afterwards, in
 * order, as the in-memory parse would. Such documents then use memory as before.
 *
 * Splitting follows chain_snapshot_reader: NDJSON when the first non-blank line starts with "{",
 * ends with "}" and a newline follows it; that is known only at that line's end, so the first
 * piece is fed before it is known, and the leading blank lines (which only change jansson's line
 * numbers in a single document) are counted and added to an error's line afterwards. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain/snapshot.h"
#include "chain/snapshot_internal.h"
#include "util/hex.h"

#define IN_CAP (64u * 1024)
#define ELEM_MAX (16u << 20) /* an element longer than this is left to jansson's tree */
#define ELEM_DEPTH_MAX 64    /* nor one nested deeper (jansson stops at 2048 levels in all) */
#define SPOOL_BUF (256u * 1024)

/* ---- the spool: validated accounts in a temporary file ---- */

struct chain_snap_spool {
  FILE *f;
  char *vbuf;
  FILE *sorted; /* the same records in address order (chain_snapshot_accounts_begin_sorted), or NULL */
  char *sorted_vbuf;
};

void chain_snapshot_spool_free_(struct chain_snap_spool *sp) {
  if (!sp) return;
  if (sp->f) fclose(sp->f);
  if (sp->sorted) fclose(sp->sorted);
  free(sp->vbuf);
  free(sp->sorted_vbuf);
  free(sp);
}

/* Returns a new temporary file with a SPOOL_BUF buffer (*vbuf, malloc'd), or NULL. */
static FILE *temp_file(char **vbuf) {
  /* tmpfile() would ignore TMPDIR; the file is unlinked at once and goes with the process */
  const char *dir = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/sparkd-snapshot-XXXXXX", dir && dir[0] ? dir : "/tmp");
  int fd = mkstemp(path);
  FILE *f = NULL;
  if (fd >= 0) {
    unlink(path);
    f = fdopen(fd, "w+b");
    if (!f) close(fd);
  }
  *vbuf = malloc(SPOOL_BUF);
  if (!f || !*vbuf) {
    if (f) fclose(f);
    free(*vbuf);
    *vbuf = NULL;
    return NULL;
  }
  setvbuf(f, *vbuf, _IOFBF, SPOOL_BUF);
  return f;
}

static struct chain_snap_spool *spool_new(void) {
  struct chain_snap_spool *sp = calloc(1, sizeof *sp);
  if (!sp) return NULL;
  sp->f = temp_file(&sp->vbuf);
  if (!sp->f) {
    free(sp);
    return NULL;
  }
  return sp;
}

static void hex20(const char *addr, unsigned char out[20]) {
  for (int k = 0; k < 20; k++)
    out[k] = (unsigned char)(util_hexval(addr[2 + 2 * k]) << 4 | util_hexval(addr[3 + 2 * k]));
}
static void unhex20(const unsigned char in[20], char *addr) {
  addr[0] = '0', addr[1] = 'x';
  for (int k = 0; k < 20; k++) {
    addr[2 + 2 * k] = "0123456789abcdef"[in[k] >> 4];
    addr[3 + 2 * k] = "0123456789abcdef"[in[k] & 15];
  }
  addr[42] = '\0';
}

/* u256 as a length byte and that many little-endian bytes. */
static void put_u256(FILE *f, u256 x) {
  unsigned char b[33];
  unsigned n = 0;
  for (unsigned i = 0; i < 32; i++) {
    b[1 + i] = (unsigned char)(x.w[i / 8] >> (8 * (i % 8)));
    if (b[1 + i]) n = i + 1;
  }
  b[0] = (unsigned char)n;
  fwrite(b, 1, n + 1, f);
}
static bool get_u256(FILE *f, u256 *x) {
  int n = getc(f);
  unsigned char b[32];
  if (n < 0 || n > 32 || fread(b, 1, (size_t)n, f) != (size_t)n) return false;
  *x = U256_ZERO;
  for (int i = 0; i < n; i++)
    x->w[i / 8] |= (uint64_t)b[i] << (8 * (i % 8));
  return true;
}

/* Record: address (20), eMode (1), n_positions (4); per position asset (20), collateral (1),
 * json_index (4), the two balances. Native byte order: the file lives and dies with the process. */
static bool spool_put(struct chain_snap_spool *sp, const struct chain_snap_account *a) {
  unsigned char h[25];
  hex20(a->address, h);
  h[20] = (unsigned char)a->emode_category;
  memcpy(h + 21, &a->n_positions, 4);
  fwrite(h, 1, sizeof h, sp->f);
  for (uint32_t j = 0; j < a->n_positions; j++) {
    const struct chain_snap_position *p = &a->positions[j];
    hex20(p->asset, h);
    h[20] = p->collateral;
    memcpy(h + 21, &p->json_index, 4);
    fwrite(h, 1, sizeof h, sp->f);
    put_u256(sp->f, p->scaled_a_token_balance);
    put_u256(sp->f, p->scaled_variable_debt);
  }
  return !ferror(sp->f);
}

static bool spool_get(struct chain_snap_account_iter *it) {
  FILE *f = it->file;
  unsigned char h[25];
  if (fread(h, 1, sizeof h, f) != sizeof h) return false;
  struct chain_snap_account *a = &it->acc;
  memset(a, 0, sizeof *a);
  unhex20(h, a->address);
  a->emode_category = h[20];
  memcpy(&a->n_positions, h + 21, 4);
  if (a->n_positions > it->cap) {
    struct chain_snap_position *p = realloc(it->pos, a->n_positions * sizeof *p);
    if (!p) return false;
    it->pos = p;
    it->cap = a->n_positions;
  }
  a->positions = it->pos;
  for (uint32_t j = 0; j < a->n_positions; j++) {
    struct chain_snap_position *p = &it->pos[j];
    memset(p, 0, sizeof *p);
    if (fread(h, 1, sizeof h, f) != sizeof h) return false;
    unhex20(h, p->asset);
    p->collateral = h[20] != 0;
    memcpy(&p->json_index, h + 21, 4);
    if (!get_u256(f, &p->scaled_a_token_balance) || !get_u256(f, &p->scaled_variable_debt)) return false;
  }
  return true;
}

bool chain_snapshot_accounts_begin(const struct chain_snapshot *s, struct chain_snap_account_iter *it) {
  memset(it, 0, sizeof *it);
  it->s = s;
  if (!s->spool) return true;
  it->file = s->spool->f;
  return fflush(s->spool->f) == 0 && fseek(s->spool->f, 0, SEEK_SET) == 0;
}

/* ---- accounts in address order ---- */

struct sort_key {
  unsigned char bin[20];
  uint32_t len; /* of the spool record; for accounts in memory, the index */
  uint64_t off;
};

static int sort_key_cmp(const void *a, const void *b) {
  return memcmp(((const struct sort_key *)a)->bin, ((const struct sort_key *)b)->bin, 20);
}

/* Writes the spool's n records to sp->sorted in address order: one pass for each record's
 * address, offset and length, a sort, then each record copied by pread (the spool's buffered
 * reader would refill its whole buffer at every seek). */
static bool spool_sort(struct chain_snap_spool *sp, size_t n) {
  struct sort_key *k = malloc((n ? n : 1) * sizeof *k);
  struct chain_snap_account_iter t = {.file = sp->f};
  bool ok = k && fflush(sp->f) == 0 && fseek(sp->f, 0, SEEK_SET) == 0;
  for (size_t i = 0; ok && i < n; i++) {
    long off = ftell(sp->f);
    ok = off >= 0 && spool_get(&t);
    long end = ok ? ftell(sp->f) : -1;
    ok = ok && end > off;
    if (ok) {
      hex20(t.acc.address, k[i].bin);
      k[i].off = (uint64_t)off;
      k[i].len = (uint32_t)(end - off);
    }
  }
  free(t.pos);
  if (ok) qsort(k, n, sizeof *k, sort_key_cmp);
  if (ok) ok = (sp->sorted = temp_file(&sp->sorted_vbuf)) != NULL;
  int fd = fileno(sp->f);
  unsigned char *buf = NULL;
  size_t cap = 0;
  for (size_t i = 0; ok && i < n; i++) {
    if (k[i].len > cap) {
      unsigned char *b = realloc(buf, k[i].len);
      if (!(ok = b != NULL)) break;
      buf = b;
      cap = k[i].len;
    }
    ok = pread(fd, buf, k[i].len, (off_t)k[i].off) == (ssize_t)k[i].len &&
         fwrite(buf, 1, k[i].len, sp->sorted) == k[i].len;
  }
  free(buf);
  free(k);
  if (!ok && sp->sorted) {
    fclose(sp->sorted);
    free(sp->sorted_vbuf);
    sp->sorted = NULL;
    sp->sorted_vbuf = NULL;
  }
  return ok;
}

struct mem_key {
  const char *address;
  uint32_t i;
};

static int mem_key_cmp(const void *a, const void *b) {
  return strcmp(((const struct mem_key *)a)->address, ((const struct mem_key *)b)->address);
}

bool chain_snapshot_accounts_begin_sorted(const struct chain_snapshot *s, struct chain_snap_account_iter *it) {
  memset(it, 0, sizeof *it);
  it->s = s;
  if (s->spool) {
    if (!s->spool->sorted && !spool_sort(s->spool, s->n_accounts)) return false;
    it->file = s->spool->sorted;
    return fflush(s->spool->sorted) == 0 && fseek(s->spool->sorted, 0, SEEK_SET) == 0;
  }
  if (s->n_accounts == 0) return true;
  struct mem_key *k = malloc(s->n_accounts * sizeof *k);
  it->order = malloc(s->n_accounts * sizeof *it->order);
  if (!k || !it->order) {
    free(k);
    free(it->order);
    it->order = NULL;
    return false;
  }
  for (size_t i = 0; i < s->n_accounts; i++)
    k[i] = (struct mem_key){s->accounts[i].address, (uint32_t)i};
  qsort(k, s->n_accounts, sizeof *k, mem_key_cmp);
  for (size_t i = 0; i < s->n_accounts; i++)
    it->order[i] = k[i].i;
  free(k);
  return true;
}

const struct chain_snap_account *chain_snapshot_accounts_next(struct chain_snap_account_iter *it) {
  const struct chain_snapshot *s = it->s;
  if (it->failed || it->i >= s->n_accounts) return NULL;
  if (!s->spool) return &s->accounts[it->order ? it->order[it->i++] : it->i++];
  if (!spool_get(it)) {
    it->failed = true;
    return NULL;
  }
  it->i++;
  return &it->acc;
}

void chain_snapshot_accounts_end(struct chain_snap_account_iter *it) {
  free(it->pos);
  free(it->order);
  it->pos = NULL;
  it->order = NULL;
  it->cap = 0;
}

/* ---- the duplicate check's index: an address as chain_snapshot_parse leaves it ---- */

/* The address text is "" (nd 255) or "0x" and nd lowercase hex digits (nd < 40 when the value was
 * not an address: get_addr stops at the first bad digit), the digits packed as nibbles. */
struct acc_key {
  unsigned char bin[20];
  uint8_t nd;
  uint32_t idx;
};

static void key_of(const struct chain_snap_account *a, uint32_t idx, struct acc_key *k) {
  memset(k, 0, sizeof *k);
  k->idx = idx;
  if (!a->address[0]) {
    k->nd = 255;
    return;
  }
  size_t n = strnlen(a->address, 42);
  k->nd = (uint8_t)(n >= 2 ? n - 2 : 0);
  for (unsigned i = 0; i < k->nd; i++)
    k->bin[i / 2] |= (unsigned char)(util_hexval(a->address[2 + i]) << (i % 2 ? 0 : 4));
}

static unsigned nib(const struct acc_key *k, unsigned i) { return i % 2 ? k->bin[i / 2] & 15u : k->bin[i / 2] >> 4; }

/* strcmp of the two texts (lowercase hex orders as its values). */
static int addr_cmp(const struct acc_key *a, const struct acc_key *b) {
  if (a->nd == 255 || b->nd == 255) return (a->nd != 255) - (b->nd != 255);
  if (a->nd == 40 && b->nd == 40) return memcmp(a->bin, b->bin, 20);
  unsigned n = a->nd < b->nd ? a->nd : b->nd;
  for (unsigned i = 0; i < n; i++)
    if (nib(a, i) != nib(b, i)) return nib(a, i) < nib(b, i) ? -1 : 1;
  return (a->nd > b->nd) - (a->nd < b->nd);
}

static int key_cmp(const void *pa, const void *pb) {
  const struct acc_key *a = pa, *b = pb;
  int c = addr_cmp(a, b);
  return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

/* ---- the stream ---- */

enum { MODE_UNKNOWN, MODE_ONE, MODE_NDJSON };
enum { R_KEY_NEXT, R_KEY, R_COLON, R_VALUE, R_IN_VALUE }; /* where the root object's scan is */

struct chain_snapshot_stream {
  chain_snapshot_read_fn read;
  void *arg;
  unsigned char *in;
  size_t in_pos, in_len;
  bool in_eof, in_failed;
  unsigned lines; /* newlines consumed */
  int mode;
  bool finished;
  unsigned piece_line;
  unsigned nl0; /* newlines before the first non-blank line */

  /* the piece being fed */
  bool piece_end;
  size_t ws_pending;         /* blanks opening the piece's line, given to jansson as spaces */
  int line_first, line_last; /* first and last non-blank bytes of the first line (mode unknown) */
  char *out;                 /* bytes for jansson */
  size_t out_len, out_pos, out_cap;
  int depth;
  bool in_str, esc, root_seen, root_obj;
  int rstate;
  char key[256];
  size_t key_len;
  bool key_long;
  bool acc_seen, in_acc, acc_tail, in_elem;
  size_t acc_n;      /* elements validated as they came (all before the tail) */
  size_t tail_start; /* first element left to the tree */
  char *elem;
  size_t elem_len, elem_cap;

  /* the accounts */
  struct chain_snapshot_errors *acc_errs;
  struct acc_key *keys;
  size_t n_keys, cap_keys;
  struct chain_snap_spool *spool;
  struct chain_snap_position *pos;
  size_t pos_cap;
  bool failed; /* spooling or memory */
  size_t peak;
};

static void note_peak(struct chain_snapshot_stream *st) {
  size_t b = IN_CAP + st->out_cap + st->elem_cap + st->cap_keys * sizeof *st->keys + st->pos_cap * sizeof *st->pos +
             sizeof *st->acc_errs;
  if (b > st->peak) st->peak = b;
}

static bool grow(char **p, size_t *cap, size_t need) {
  if (need <= *cap) return true;
  size_t c = *cap ? *cap : 4096;
  while (c < need)
    c *= 2;
  char *q = realloc(*p, c);
  if (!q) return false;
  *p = q;
  *cap = c;
  return true;
}

static void emit_n(struct chain_snapshot_stream *st, const char *b, size_t n) {
  if (!grow(&st->out, &st->out_cap, st->out_len + n)) {
    st->failed = true;
    return;
  }
  memcpy(st->out + st->out_len, b, n);
  st->out_len += n;
  note_peak(st);
}

static int in_peek(struct chain_snapshot_stream *st) {
  if (st->in_pos == st->in_len) {
    if (st->in_eof) return -1;
    size_t k = st->read(st->in, IN_CAP, st->arg);
    if (k == 0 || k == (size_t)-1 || k > IN_CAP) {
      st->in_eof = true;
      st->in_failed = k != 0;
      return -1;
    }
    st->in_len = k;
    st->in_pos = 0;
  }
  return st->in[st->in_pos];
}
static void in_skip(struct chain_snapshot_stream *st) {
  if (st->in[st->in_pos++] == '\n') st->lines++;
}
static bool blank(int c) { return c == ' ' || c == '\t' || c == '\r'; }

static void tail(struct chain_snapshot_stream *st) {
  st->acc_tail = true;
  st->tail_start = st->acc_n;
}

static bool key_is_accounts(const struct chain_snapshot_stream *st) {
  if (st->key_long) return false;
  if (!memchr(st->key, '\\', st->key_len)) return st->key_len == 8 && memcmp(st->key, "accounts", 8) == 0;
  char q[sizeof st->key + 2];
  q[0] = '"';
  memcpy(q + 1, st->key, st->key_len);
  q[st->key_len + 1] = '"';
  json_t *k = json_loadb(q, st->key_len + 2, JSON_DECODE_ANY, NULL);
  bool yes = json_is_string(k) && json_string_length(k) == 8 && memcmp(json_string_value(k), "accounts", 8) == 0;
  json_decref(k);
  return yes;
}

/* Records a validated account: its index entry, and its record when nothing is wrong so far. */
static void keep(struct chain_snapshot_stream *st, const struct chain_snap_account *a, size_t i) {
  if (st->n_keys == st->cap_keys) {
    size_t c = st->cap_keys ? st->cap_keys * 2 : 1024;
    struct acc_key *k = realloc(st->keys, c * sizeof *k);
    if (!k) {
      st->failed = true;
      return;
    }
    st->keys = k;
    st->cap_keys = c;
    note_peak(st);
  }
  key_of(a, (uint32_t)i, &st->keys[st->n_keys++]);
  if (st->acc_errs->n + st->acc_errs->dropped) return; /* the snapshot is refused: no need to keep it */
  if (!st->spool && !(st->spool = spool_new())) {
    st->failed = true;
    return;
  }
  if (!spool_put(st->spool, a)) st->failed = true;
}

/* Validates element i (a jansson value) into the accounts' problems and keeps it. */
static void take(struct chain_snapshot_stream *st, const json_t *o, size_t i) {
  size_t np = json_array_size(json_object_get(o, "positions"));
  if (np > st->pos_cap) {
    struct chain_snap_position *p = realloc(st->pos, np * sizeof *p);
    if (!p) {
      st->failed = true;
      return;
    }
    st->pos = p;
    st->pos_cap = np;
    note_peak(st);
  }
  struct chain_snap_account a;
  memset(&a, 0, sizeof a);
  if (st->pos_cap) memset(st->pos, 0, np * sizeof *st->pos);
  a.positions = st->pos;
  chain_snapshot_parse_account_(st->acc_errs, o, i, &a);
  keep(st, &a, i);
}

static bool cont_byte(unsigned char c) { return c >= 0x80 && c < 0xc0; }

/* A complete element: validated on its own, and jansson gets a stand-in of the same shape. */
static void element_done(struct chain_snapshot_stream *st) {
  st->in_elem = false;
  json_t *o = json_loadb(st->elem, st->elem_len, JSON_REJECT_DUPLICATES, NULL);
  if (!o) { /* jansson will say what is wrong at its place in the document */
    emit_n(st, st->elem, st->elem_len);
    tail(st);
    return;
  }
  take(st, o, st->acc_n++);
  json_decref(o);
  /* "null" (nothing allocated) when at least 5 characters stand on the element's first line, so
   * a blank always follows it; else "0" ('{' is at least one character). Columns count
   * characters, not bytes, as jansson's do: continuation bytes are dropped. */
  size_t chars = 0;
  for (size_t k = 0; k < st->elem_len && st->elem[k] != '\n' && chars < 5; k++)
    chars += !cont_byte((unsigned char)st->elem[k]);
  size_t take_chars = chars >= 5 ? 4 : 1, k = 0, seen = 0;
  emit_n(st, chars >= 5 ? "null" : "0", take_chars);
  while (k < st->elem_len && (seen < take_chars || cont_byte((unsigned char)st->elem[k])))
    seen += !cont_byte((unsigned char)st->elem[k++]);
  if (!grow(&st->out, &st->out_cap, st->out_len + st->elem_len)) {
    st->failed = true;
    return;
  }
  for (; k < st->elem_len; k++) {
    unsigned char c = (unsigned char)st->elem[k];
    if (c == '\n')
      st->out[st->out_len++] = '\n';
    else if (!cont_byte(c))
      st->out[st->out_len++] = ' ';
  }
}

/* The element so far goes to jansson as it is. */
static void elem_flush(struct chain_snapshot_stream *st) {
  if (!st->in_elem) return;
  st->in_elem = false;
  emit_n(st, st->elem, st->elem_len);
}

/* Follows one byte of the piece; it goes to jansson now, or into the element being held. */
static void scan(struct chain_snapshot_stream *st, unsigned char c) {
  bool elem_start = false;
  if (st->in_str) {
    if (st->esc) {
      st->esc = false;
    } else if (c == '\\') {
      st->esc = true;
    } else if (c == '"') {
      st->in_str = false;
      if (st->rstate == R_KEY) st->rstate = R_COLON;
      goto out;
    }
    if (st->rstate == R_KEY) {
      if (st->key_len < sizeof st->key)
        st->key[st->key_len++] = (char)c;
      else
        st->key_long = true;
    }
    goto out;
  }
  bool elem_slot = st->in_acc && st->depth == 2 && !st->acc_tail && !st->in_elem;
  switch (c) {
  case '"':
    st->in_str = true;
    if (st->depth == 1 && st->root_obj) {
      if (st->rstate == R_KEY_NEXT) {
        st->rstate = R_KEY;
        st->key_len = 0;
        st->key_long = false;
      } else if (st->rstate == R_VALUE) {
        st->rstate = R_IN_VALUE;
      }
    }
    if (elem_slot) tail(st);
    break;
  case '{':
  case '[':
    if (st->depth == 0 && !st->root_seen) {
      st->root_seen = true;
      st->root_obj = c == '{';
      st->rstate = R_KEY_NEXT;
    } else if (st->depth == 1 && st->root_obj && st->rstate == R_VALUE) {
      st->rstate = R_IN_VALUE;
      if (c == '[' && !st->acc_seen && key_is_accounts(st)) st->acc_seen = st->in_acc = true;
    } else if (elem_slot) {
      if (c == '{')
        elem_start = true;
      else
        tail(st);
    }
    st->depth++;
    break;
  case '}':
  case ']':
    if (st->depth > 0) st->depth--;
    if (st->in_acc && st->depth == 1) st->in_acc = false;
    break;
  case ':':
    if (st->depth == 1 && st->rstate == R_COLON) st->rstate = R_VALUE;
    break;
  case ',':
    if (st->depth == 1) st->rstate = R_KEY_NEXT;
    break;
  case ' ':
  case '\t':
  case '\r':
  case '\n': break;
  default:
    if (st->depth == 1 && st->rstate == R_VALUE) st->rstate = R_IN_VALUE;
    if (elem_slot) tail(st);
  }
out:
  if (elem_start) {
    st->in_elem = true;
    st->elem_len = 0;
  }
  if (!st->in_elem) {
    if (st->out_len < st->out_cap) /* the usual case, without a call */
      st->out[st->out_len++] = (char)c;
    else
      emit_n(st, (const char *)&c, 1);
    return;
  }
  if (!grow(&st->elem, &st->elem_cap, st->elem_len + 1)) {
    st->failed = true;
    return;
  }
  st->elem[st->elem_len++] = (char)c;
  if (st->elem_len == st->elem_cap) note_peak(st);
  if (!st->in_str && st->depth == 2) {
    element_done(st);
  } else if (st->elem_len > ELEM_MAX || st->depth > 2 + ELEM_DEPTH_MAX) {
    elem_flush(st);
    tail(st);
  }
}

/* jansson's reader: the piece's bytes through the scanner, then the end. */
static size_t feed(void *buf, size_t cap, void *arg) {
  struct chain_snapshot_stream *st = arg;
  char *b = buf;
  size_t n = 0;
  while (n < cap && !st->failed) {
    if (st->out_pos < st->out_len) {
      size_t k = st->out_len - st->out_pos;
      if (k > cap - n) k = cap - n;
      memcpy(b + n, st->out + st->out_pos, k);
      st->out_pos += k, n += k;
      continue;
    }
    st->out_pos = st->out_len = 0;
    if (st->ws_pending) {
      st->ws_pending--;
      scan(st, ' ');
      continue;
    }
    if (st->piece_end) break;
    /* a run of input up to the out buffer's room, no newline handling needed inside it */
    int c = in_peek(st);
    if (c < 0) {
      st->piece_end = true;
      if (st->mode == MODE_UNKNOWN) st->mode = MODE_ONE; /* no newline after the first line */
      elem_flush(st);
      continue;
    }
    if (c == '\n' && st->mode != MODE_ONE) {
      in_skip(st);
      if (st->mode == MODE_UNKNOWN) {
        st->mode = st->line_first == '{' && st->line_last == '}' ? MODE_NDJSON : MODE_ONE;
        if (st->mode == MODE_ONE) {
          scan(st, '\n');
          continue;
        }
      }
      st->piece_end = true;
      elem_flush(st);
      continue;
    }
    size_t end = st->in_len, lim = st->in_pos + 4096;
    if (end > lim) end = lim;
    while (st->in_pos < end && !st->failed) {
      unsigned char ch = st->in[st->in_pos];
      if (ch == '\n') {
        if (st->mode != MODE_ONE) break;
        st->lines++;
      }
      st->in_pos++;
      if (st->mode == MODE_UNKNOWN && !blank(ch)) st->line_last = ch;
      scan(st, ch);
    }
  }
  return st->failed ? (size_t)-1 : n;
}

/* After jansson stopped early: the rest of the piece, deciding the splitting if still open. */
static void drain(struct chain_snapshot_stream *st) {
  while (!st->piece_end) {
    if (st->mode == MODE_ONE) break; /* one document: nothing follows it */
    int c = in_peek(st);
    if (c < 0) {
      if (st->mode == MODE_UNKNOWN) st->mode = MODE_ONE;
      break;
    }
    in_skip(st);
    if (c == '\n') {
      if (st->mode == MODE_UNKNOWN) st->mode = st->line_first == '{' && st->line_last == '}' ? MODE_NDJSON : MODE_ONE;
      break;
    }
    if (st->mode == MODE_UNKNOWN && !blank(c)) st->line_last = c;
  }
  st->piece_end = true;
}

struct chain_snapshot_stream *chain_snapshot_stream_new(chain_snapshot_read_fn read, void *arg) {
  struct chain_snapshot_stream *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->read = read;
  st->arg = arg;
  st->in = malloc(IN_CAP);
  st->acc_errs = malloc(sizeof *st->acc_errs);
  if (!st->in || !st->acc_errs) {
    chain_snapshot_stream_free(st);
    return NULL;
  }
  return st;
}

void chain_snapshot_stream_free(struct chain_snapshot_stream *st) {
  if (!st) return;
  free(st->in);
  free(st->out);
  free(st->elem);
  free(st->keys);
  free(st->pos);
  free(st->acc_errs);
  chain_snapshot_spool_free_(st->spool);
  free(st);
}

unsigned chain_snapshot_stream_line(const struct chain_snapshot_stream *st) { return st->piece_line; }
bool chain_snapshot_stream_ndjson(const struct chain_snapshot_stream *st) { return st->mode == MODE_NDJSON; }
size_t chain_snapshot_stream_peak_bytes(const struct chain_snapshot_stream *st) { return st->peak; }

/* chain_snapshot_parse_root_'s accounts step: the elements left to the tree, the duplicate
 * check, and every problem of the accounts in at this point of the list. */
static void accounts_hook(struct chain_snapshot_errors *e, struct chain_snapshot *s, const json_t *arr, void *arg) {
  struct chain_snapshot_stream *st = arg;
  size_t n = json_array_size(arr);
  size_t from = st->acc_seen ? (st->acc_tail ? st->tail_start : st->acc_n) : 0;
  if (!st->acc_seen) st->n_keys = 0;
  if (from > n) from = n; /* cannot happen with valid JSON */
  for (size_t i = from; i < n && !st->failed; i++)
    take(st, json_array_get(arr, i), i);
  if (st->failed) {
    chain_snapshot_error(e, "$.accounts", "out of memory");
    return;
  }
  qsort(st->keys, st->n_keys, sizeof *st->keys, key_cmp);
  for (size_t k = 1; k < st->n_keys; k++)
    if (st->keys[k].nd != 255 && addr_cmp(&st->keys[k], &st->keys[k - 1]) == 0)
      chain_snapshot_duplicate_error_(st->acc_errs, st->keys[k].idx, st->keys[k - 1].idx);
  const struct chain_snapshot_errors *a = st->acc_errs;
  for (unsigned i = 0; i < a->n; i++) {
    if (e->n < CHAIN_SNAPSHOT_MAX_ERRORS)
      memcpy(e->msg[e->n++], a->msg[i], CHAIN_SNAPSHOT_ERR_LEN);
    else
      e->dropped++;
  }
  e->dropped += a->dropped;
  s->n_accounts = n;
  s->spool = st->spool;
  st->spool = NULL; /* NULL only when some account was refused (or there are none) */
}

/* Starts a piece: skips blank lines; returns false at the end of the input. */
static bool piece_start(struct chain_snapshot_stream *st) {
  size_t ws = 0;
  int c;
  while ((c = in_peek(st)) >= 0) {
    if (c == '\n') {
      ws = 0;
    } else if (blank(c)) {
      ws++;
    } else {
      break;
    }
    in_skip(st);
  }
  if (c < 0) return false;
  st->ws_pending = ws;
  st->line_first = st->line_last = c;
  st->piece_line = st->lines + 1;
  return true;
}

int chain_snapshot_stream_next(struct chain_snapshot_stream *st, struct chain_snapshot **out,
                               struct chain_snapshot_errors *errs) {
  *out = NULL;
  if (st->finished) return 0;
  bool first = st->mode == MODE_UNKNOWN;
  if (!piece_start(st)) {
    st->finished = true;
    if (st->in_failed) return -1;
    if (!first) return 0;
    st->piece_line = 1; /* chain_snapshot_parse("") */
    chain_snapshot_error(errs, "$", "empty input");
    return 1;
  }
  if (first) st->nl0 = st->lines;
  /* a fresh piece */
  st->piece_end = false;
  st->out_len = st->out_pos = 0;
  st->depth = 0;
  st->in_str = st->esc = st->root_seen = st->root_obj = false;
  st->rstate = R_KEY_NEXT;
  st->acc_seen = st->in_acc = st->acc_tail = st->in_elem = false;
  st->acc_n = st->tail_start = 0;
  st->n_keys = 0;
  memset(st->acc_errs, 0, sizeof *st->acc_errs);
  chain_snapshot_spool_free_(st->spool);
  st->spool = NULL;
  st->failed = false;

  json_error_t jerr;
  json_t *root = json_load_callback(feed, st, JSON_REJECT_DUPLICATES, &jerr);
  drain(st);
  if (st->mode == MODE_ONE) {
    st->finished = true;
    st->piece_line = 1;
  }
  if (st->in_failed || st->failed) {
    json_decref(root);
    return -1;
  }
  if (!root) {
    int line = jerr.line > 0 && st->mode == MODE_ONE ? jerr.line + (int)st->nl0 : jerr.line;
    chain_snapshot_error(errs, "$", "invalid JSON at line %d column %d: %s", line, jerr.column, jerr.text);
    return 1;
  }
  if (!json_is_object(root)) {
    chain_snapshot_error(errs, "$", "must be an object, not %s", chain_snapshot_type_name_(root));
    json_decref(root);
    return 1;
  }
  struct chain_snapshot *s = calloc(1, sizeof *s);
  if (!s) {
    json_decref(root);
    return -1;
  }
  unsigned before = errs->n + errs->dropped;
  chain_snapshot_parse_root_(errs, s, root, accounts_hook, st);
  json_decref(root);
  if (st->failed) {
    chain_snapshot_free(s);
    return -1;
  }
  if (errs->n + errs->dropped != before) {
    chain_snapshot_free(s);
    return 1;
  }
  *out = s;
  return 1;
}
