#include "httptest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

unsigned th_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t l = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
    if (fd >= 0) close(fd);
    return 0;
  }
  close(fd);
  return ntohs(a.sin_port);
}

int th_connect(struct th_conn *c, unsigned port) {
  c->port = port;
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) return -1;
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {30, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  return 0;
}

void th_close(struct th_conn *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

void th_response_free(struct th_response *r) {
  free(r->headers);
  free(r->body);
  memset(r, 0, sizeof *r);
}

char *th_header(const struct th_response *r, const char *name) {
  if (!r->headers) return NULL;
  size_t nlen = strlen(name);
  const char *p = r->headers;
  while (*p) {
    const char *eol = strstr(p, "\r\n");
    if (!eol) eol = p + strlen(p);
    if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
      const char *v = p + nlen + 1;
      while (*v == ' ')
        v++;
      return strndup(v, (size_t)(eol - v));
    }
    p = *eol ? eol + 2 : eol;
  }
  return NULL;
}

/* Reads one response from fd; head: no body expected. */
static int read_response(int fd, bool head, struct th_response *out) {
  memset(out, 0, sizeof *out);
  size_t cap = 8192, len = 0;
  char *buf = malloc(cap);
  char *hdr_end = NULL;
  while (!hdr_end) {
    if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
    ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      free(buf);
      return -1;
    }
    len += (size_t)n;
    buf[len] = 0;
    hdr_end = strstr(buf, "\r\n\r\n");
  }
  size_t hlen = (size_t)(hdr_end - buf);
  if (sscanf(buf, "HTTP/1.%*d %d", &out->status) != 1) {
    free(buf);
    return -1;
  }
  const char *first_eol = strstr(buf, "\r\n");
  out->headers = strndup(first_eol + 2, hlen - (size_t)(first_eol + 2 - buf) + 2);
  char *cl = th_header(out, "Content-Length");
  long want = -1;
  if (cl) want = atol(cl);
  free(cl);
  char *conn_hdr = th_header(out, "Connection");
  bool closes = conn_hdr && strcasecmp(conn_hdr, "close") == 0;
  free(conn_hdr);
  if (head || out->status == 204 || out->status == 304) want = 0;
  size_t have = len - hlen - 4;
  char *body = malloc(have + 1);
  memcpy(body, hdr_end + 4, have);
  free(buf);
  size_t bcap = have + 1;
  while (want < 0 ? closes : (long)have < want) {
    if (have + 4096 + 1 > bcap) body = realloc(body, bcap = bcap * 2 + 4096);
    ssize_t n = recv(fd, body + have, bcap - have - 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += (size_t)n;
  }
  body[have] = 0;
  out->body = body;
  out->body_len = have;
  if (want >= 0 && (long)have < want) return -1;
  return 0;
}

int th_request(struct th_conn *c, const char *method, const char *path, const char *extra_headers, const char *body,
               size_t body_len, struct th_response *out) {
  char head[8192];
  int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%s", method, path, c->port,
                   extra_headers ? extra_headers : "");
  if (body) n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", body_len);
  n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
  if (send_all(c->fd, head, (size_t)n) != 0) return -1;
  if (body && body_len && send_all(c->fd, body, body_len) != 0) return -1;
  return read_response(c->fd, strcmp(method, "HEAD") == 0, out);
}

int th_http(unsigned port, const char *method, const char *path, const char *extra_headers, const char *body,
            struct th_response *out) {
  struct th_conn c;
  if (th_connect(&c, port) != 0) return -1;
  int rc = th_request(&c, method, path, extra_headers, body, body ? strlen(body) : 0, out);
  th_close(&c);
  return rc;
}

int th_raw(unsigned port, const char *raw, size_t raw_len, struct th_response *out) {
  struct th_conn c;
  if (th_connect(&c, port) != 0) return -1;
  int rc = send_all(c.fd, raw, raw_len);
  if (rc == 0) rc = read_response(c.fd, false, out);
  th_close(&c);
  return rc;
}

char *th_sparkd_log(const struct th_sparkd *s) {
  FILE *f = fopen(s->log_path, "r");
  if (!f) return strdup("");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)n + 1);
  size_t got = fread(p, 1, (size_t)n, f);
  p[got] = 0;
  fclose(f);
  return p;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int th_sparkd_start(struct th_sparkd *s, const char *database_url, const char *const *extra_env) {
  for (int attempt = 0; attempt < 5; attempt++) {
    s->port = th_free_port();
    snprintf(s->log_path, sizeof s->log_path, "/tmp/sparkd-test-%d-%u.log", (int)getpid(), s->port);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      int fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 2);
        dup2(fd, 1);
        close(fd);
      }
      char listen[64];
      snprintf(listen, sizeof listen, "SPARKD_LISTEN=127.0.0.1:%u", s->port);
      putenv(strdup(listen));
      setenv("SPARKD_DATABASE_URL", database_url, 1);
      if (!getenv("SPARKD_LOG_FORMAT")) setenv("SPARKD_LOG_FORMAT", "text", 1);
      if (!getenv("SPARKD_THREADS")) setenv("SPARKD_THREADS", "4", 1);
      for (const char *const *e = extra_env; e && *e; e++)
        putenv(strdup(*e));
      execl(SPARKD_BINARY, "sparkd", "serve", (char *)NULL);
      _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 300; i++) { /* up to 15 s */
      struct th_response r;
      if (th_http(s->port, "GET", "/healthz", NULL, NULL, &r) == 0) {
        int st = r.status;
        th_response_free(&r);
        if (st == 200) return 0;
      }
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) break; /* died: maybe the port was taken */
      sleep_ms(50);
    }
    char *log = th_sparkd_log(s);
    fprintf(stderr, "sparkd did not start (attempt %d); its log:\n%s\n", attempt + 1, log);
    free(log);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  return -1;
}

int th_sparkd_run(const char *database_url, const char *const *args, char *out, size_t out_len) {
  char of[] = "/tmp/sparkd_outXXXXXX";
  int ofd = mkstemp(of);
  if (ofd < 0) return -1;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(ofd, 1);
    setenv("SPARKD_DATABASE_URL", database_url, 1);
    setenv("SPARKD_MIGRATE", "auto", 1);
    setenv("SPARKD_LOG_LEVEL", "warn", 1);
    char *argv[16] = {(char *)SPARKD_BINARY};
    int n = 1;
    for (; args[n - 1] && n < 15; n++)
      argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    execv(SPARKD_BINARY, argv);
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) status = -1;
  ssize_t k = pread(ofd, out, out_len - 1, 0);
  out[k > 0 ? k : 0] = 0;
  close(ofd);
  unlink(of);
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int th_sparkd_key(const char *database_url, const char *scope, const char *partner, char *key, size_t len) {
  char out[512];
  const char *args[] = {"keys", "create", "--scope", scope, partner ? "--partner" : NULL, partner, NULL};
  if (th_sparkd_run(database_url, args, out, sizeof out) != 0) return -1;
  size_t n = strcspn(out, "\n");
  if (n == 0 || n >= len) return -1;
  memcpy(key, out, n);
  key[n] = 0;
  return 0;
}

int th_sparkd_stop(struct th_sparkd *s) {
  if (s->pid <= 0) return -1;
  kill(s->pid, SIGTERM);
  for (int i = 0; i < 600; i++) {
    int status;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      s->pid = 0;
      int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      /* a clean stop leaves nothing behind in /tmp; a server that failed keeps its log to read */
      if (rc == 0 && s->log_path[0]) unlink(s->log_path);
      return rc;
    }
    sleep_ms(50);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
  return -1;
}

int th_sparkd_import(const char *database_url, const char *file) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    setenv("SPARKD_DATABASE_URL", database_url, 1);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
    execl(SPARKD_BINARY, SPARKD_BINARY, "import", file, (char *)NULL);
    _exit(127);
  }
  int st;
  if (waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
