#include "chaintest.h"
#include "httptest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int th_spawn_line(const char *node_args, const char *prefix, char *out, size_t out_len, int timeout_s,
                  struct th_bg *bg) {
  int in[2], outp[2];
  if (pipe(in) != 0 || pipe(outp) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(outp[1], 1);
    close(in[0]), close(in[1]), close(outp[0]), close(outp[1]);
    if (chdir(SPARKD_SOURCE_DIR) != 0) _exit(127);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "exec node %s", node_args);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(in[0]), close(outp[1]);
  fcntl(in[1], F_SETFD, FD_CLOEXEC);
  bg->pid = pid;
  bg->stdin_fd = in[1];
  char buf[4096];
  size_t len = 0;
  double deadline = now_s() + timeout_s;
  int rc = -1;
  while (now_s() < deadline && len < sizeof buf - 1) {
    struct pollfd p = {.fd = outp[0], .events = POLLIN};
    if (poll(&p, 1, 200) <= 0) continue;
    ssize_t n = read(outp[0], buf + len, sizeof buf - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
    buf[len] = '\0';
    char *line = buf, *nl;
    while ((nl = strchr(line, '\n')) != NULL) {
      *nl = '\0';
      if (strncmp(line, prefix, strlen(prefix)) == 0) {
        snprintf(out, out_len, "%s", line + strlen(prefix));
        rc = 0;
        break;
      }
      line = nl + 1;
    }
    if (rc == 0) break;
    memmove(buf, line, strlen(line) + 1);
    len = strlen(buf);
  }
  /* Later output (none expected) must not block the child: hand the pipe to /dev/null. */
  close(outp[0]);
  if (rc != 0) {
    fprintf(stderr, "th_spawn_line: no '%s' line from node %s\n", prefix, node_args);
    th_bg_stop(bg);
  }
  return rc;
}

void th_bg_stop(struct th_bg *bg) {
  if (bg->pid <= 0) return;
  if (bg->stdin_fd >= 0) close(bg->stdin_fd);
  bg->stdin_fd = -1;
  for (int i = 0; i < 200; i++) {
    int st;
    pid_t r = waitpid(bg->pid, &st, WNOHANG);
    if (r == bg->pid || (r < 0 && errno == ECHILD)) {
      bg->pid = 0;
      return;
    }
    if (i == 100) kill(bg->pid, SIGTERM);
    usleep(50 * 1000);
  }
  kill(bg->pid, SIGKILL);
  waitpid(bg->pid, NULL, 0);
  bg->pid = 0;
}

int th_chain_start(struct th_chain *c) { return th_chain_start_keep(c, 0); }

int th_chain_start_keep(struct th_chain *c, unsigned keep) {
  memset(c, 0, sizeof *c);
  c->node.stdin_fd = -1;
  snprintf(c->dir, sizeof c->dir, "/tmp/sparkd-chain-XXXXXX");
  if (!mkdtemp(c->dir)) {
    perror("mkdtemp");
    return -1;
  }
  char args[128] = "tests/chain/anvil.mjs --lifetime 600";
  if (keep) snprintf(args, sizeof args, "tests/chain/anvil.mjs --lifetime 600 --keep %u", keep);
  if (th_spawn_line(args, "RPC_URL=", c->url, sizeof c->url, 60, &c->node) != 0) {
    fprintf(stderr, "anvil did not start (node_modules/@foundry-rs/anvil-linux-amd64: npm ci)\n");
    return -1;
  }
  return 0;
}

void th_chain_stop(struct th_chain *c) {
  th_bg_stop(&c->node);
  if (c->dir[0] && !getenv("SPARKD_KEEP_CHAIN_DIR")) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", c->dir);
  } else if (c->dir[0]) {
    fprintf(stderr, "chain scratch folder kept: %s\n", c->dir);
  }
}

static int status_of(int ws) { return (ws != -1 && WIFEXITED(ws)) ? WEXITSTATUS(ws) : -1; }

int th_node(const char *fmt, ...) {
  char args[3000], cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "cd '%s' && timeout 300 node %s", SPARKD_SOURCE_DIR, args);
  fflush(stdout), fflush(stderr);
  return status_of(system(cmd));
}

int th_sparkd_cmd(const char *database_url, const char *const *extra_env, const char *args) {
  return th_sparkd_cmd_out(database_url, extra_env, args, NULL, 0);
}

int th_sparkd_cmd_out(const char *database_url, const char *const *extra_env, const char *args, char *out,
                      size_t out_len) {
  char of[] = "/tmp/sparkd_cmdXXXXXX";
  int ofd = -1;
  if (out && out_len) {
    out[0] = '\0';
    if ((ofd = mkstemp(of)) < 0) return -1;
    unlink(of);
  }
  fflush(stdout), fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    if (ofd >= 0) close(ofd);
    return -1;
  }
  if (pid == 0) {
    if (ofd >= 0) dup2(ofd, 1), dup2(ofd, 2);
    setenv("SPARKD_DATABASE_URL", database_url, 1);
    if (!getenv("SPARKD_LOG_FORMAT")) setenv("SPARKD_LOG_FORMAT", "text", 1);
    for (const char *const *e = extra_env; e && *e; e++)
      putenv(strdup(*e));
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec timeout 300 '%s' %s", SPARKD_BINARY, args);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  int ws;
  while (waitpid(pid, &ws, 0) < 0)
    if (errno != EINTR) {
      ws = -1;
      break;
    }
  if (ofd >= 0) {
    ssize_t k = pread(ofd, out, out_len - 1, 0);
    out[k > 0 ? k : 0] = '\0';
    close(ofd);
    fprintf(stderr, "%s", out); /* the command's output stays in the test log */
  }
  return status_of(ws);
}

long long th_json_file_int(const char *path, const char *field) {
  json_error_t err;
  json_t *j = json_load_file(path, 0, &err);
  if (!j) {
    fprintf(stderr, "%s: %s\n", path, err.text);
    return -1;
  }
  json_t *v = json_object_get(j, field);
  long long r = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
  json_decref(j);
  return r;
}

json_t *th_get_json(unsigned port, const char *path, const char *headers, char *why, size_t why_len) {
  struct th_response r;
  if (th_http(port, "GET", path, headers, NULL, &r) != 0) {
    snprintf(why, why_len, "GET %s: no answer", path);
    return NULL;
  }
  for (int i = 0; i < 100 && r.status == 503; i++) {
    th_response_free(&r);
    nanosleep(&(struct timespec){0, 100000000}, NULL);
    if (th_http(port, "GET", path, headers, NULL, &r) != 0) {
      snprintf(why, why_len, "GET %s: no answer", path);
      return NULL;
    }
  }
  json_t *j = NULL;
  if (r.status != 200) {
    snprintf(why, why_len, "GET %s: %d %s", path, r.status, r.body);
  } else {
    json_error_t e;
    if (!(j = json_loads(r.body, 0, &e))) snprintf(why, why_len, "GET %s: not json: %s", path, r.body);
  }
  th_response_free(&r);
  return j;
}

void th_lower(char *s) {
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z') *s = (char)(*s - 'A' + 'a');
}

int th_rpc(const char *url, const char *method, const char *params_json, char *out, size_t out_len) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cd '%s' && timeout 60 node tests/chain/rpc.mjs --rpc '%s' --method '%s' %s%s%s",
           SPARKD_SOURCE_DIR, url, method, params_json ? "--params '" : "", params_json ? params_json : "",
           params_json ? "'" : "");
  fflush(stdout), fflush(stderr);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  out[0] = '\0';
  if (!fgets(out, (int)out_len, p)) out[0] = '\0';
  int st = status_of(pclose(p));
  out[strcspn(out, "\n")] = '\0';
  return st == 0 && out[0] ? 0 : -1;
}
