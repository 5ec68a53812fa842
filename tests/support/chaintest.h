/* Chain test support: anvil (through tests/chain/anvil.mjs) on a free loopback port, the node
 * fixture scripts of tests/chain/, and one-shot sparkd commands (migrate, index --once).
 *
 *   struct th_chain ch;
 *   th_chain_start(&ch);                          // anvil + a scratch folder ch.dir
 *   th_node("tests/chain/aave_market.mjs --rpc %s --network %s/network.json ...", ch.url, ch.dir);
 *   th_sparkd_cmd(dburl, env, "index --once");
 *   th_chain_stop(&ch);                           // anvil gone, folder removed
 *
 * Background node processes hold a pipe as their stdin: when the test process ends, however it
 * ends, the pipe closes and they stop (with anvil) by themselves. */
#ifndef SPARKD_TESTS_CHAINTEST_H
#define SPARKD_TESTS_CHAINTEST_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* A background process started with th_spawn_line. */
struct th_bg {
  pid_t pid;
  int stdin_fd; /* closing it asks the process to stop */
};

struct th_chain {
  struct th_bg node; /* node tests/chain/anvil.mjs; anvil is its child */
  char url[128];     /* http://127.0.0.1:PORT */
  char dir[256];     /* scratch folder for network.json, addresses.json, summaries */
};

/* Returns 0 after starting anvil (fixed genesis time, 12 s blocks, pruned history) on a free
 * port and creating a scratch folder; -1 with the cause on stderr. */
int th_chain_start(struct th_chain *c);
/* The same with anvil keeping the state of only the last `keep` blocks (0: anvil.mjs's default,
 * 4096), as a pruned full node does; older state is answered with an error. */
int th_chain_start_keep(struct th_chain *c, unsigned keep);
/* Stops anvil and removes the scratch folder (kept when SPARKD_KEEP_CHAIN_DIR is set). */
void th_chain_stop(struct th_chain *c);

/* Runs `sh -c "exec node <args>"` in the source tree with stdout read line by line until a line
 * starts with prefix ("RPC_URL=" …); copies the rest of that line to out. Returns 0, or -1 when
 * the process ended or `timeout_s` passed first. */
int th_spawn_line(const char *node_args, const char *prefix, char *out, size_t out_len, int timeout_s,
                  struct th_bg *bg);
/* Closes the process's stdin, then SIGTERM after 5 s, SIGKILL after 10 s; waits for it. */
void th_bg_stop(struct th_bg *bg);

/* Runs `node <printf args>` in the source tree (bounded by `timeout 300`); its output goes to the
 * test log. Returns the exit status (-1 when it did not exit normally). */
int th_node(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs `sparkd <args>` (bounded by `timeout 300`) with SPARKD_DATABASE_URL and extra
 * "NAME=value" entries (NULL-ended, may be NULL) in its environment. Returns the exit status. */
int th_sparkd_cmd(const char *database_url, const char *const *extra_env, const char *args);
/* The same with its stdout and stderr (the log) into out (NUL-terminated, cut at out_len - 1) as
 * well as the test log, so a test can tell why a command failed. */
int th_sparkd_cmd_out(const char *database_url, const char *const *extra_env, const char *args, char *out,
                      size_t out_len);

/* One JSON-RPC call through tests/chain/rpc.mjs (params: a JSON array or NULL); the result's JSON
 * text (e.g. "\"0x1\"" or "true") goes to out. Returns 0, or -1 on an error. */
int th_rpc(const char *url, const char *method, const char *params_json, char *out, size_t out_len);

/* Reads an integer field of a JSON object file (e.g. "head" of a drive.mjs summary); -1 if absent. */
long long th_json_file_int(const char *path, const char *field);

/* GET path (headers: "" or "Name: value\r\n" lines) from a sparkd on 127.0.0.1:port, asked again
 * while it answers 503 (it loads its state in the background after it starts; up to 10 s).
 * Returns the body parsed, or NULL with the status and body (or the cause) in why. */
struct json_t *th_get_json(unsigned port, const char *path, const char *headers, char *why, size_t why_len);

/* Lower-cases ASCII letters in place (addresses, hashes: the API serves them checksummed). */
void th_lower(char *s);
#endif
