/* ctest-label: unit */
/* Which webhook targets are refused (partner/delivery.c): the address classifier against a table
 * of addresses of every kind, the registration check of URLs (scheme, credentials, port, IP
 * literals in every form a resolver reads, localhost's names) with no allow-list and with one, and
 * the parsing of SPARKD_WEBHOOK_ALLOW_PRIVATE. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partner/delivery.h"

/* Returns the kind of the address written as text (IPv4 or IPv6); "?" when it does not parse. */
static const char *kind_of(const char *text) {
  unsigned char a[16];
  if (inet_pton(AF_INET, text, a) == 1) return partner_addr_kind(AF_INET, a);
  if (inet_pton(AF_INET6, text, a) == 1) return partner_addr_kind(AF_INET6, a);
  return "?";
}

START_TEST(address_kinds) {
  static const struct {
    const char *addr, *kind; /* kind NULL: public */
  } cases[] = {
      {"0.0.0.0", "unspecified"},
      {"0.1.2.3", "unspecified"},
      {"127.0.0.1", "loopback"},
      {"127.255.255.254", "loopback"},
      {"10.0.0.1", "private"},
      {"10.255.255.255", "private"},
      {"172.16.0.1", "private"},
      {"172.31.255.255", "private"},
      {"172.15.255.255", NULL},
      {"172.32.0.0", NULL},
      {"192.168.1.1", "private"},
      {"169.254.169.254", "link-local"},
      {"100.64.0.1", "shared"},
      {"100.127.255.255", "shared"},
      {"100.128.0.0", NULL},
      {"100.63.255.255", NULL},
      {"224.0.0.1", "multicast"},
      {"239.255.255.250", "multicast"},
      {"240.0.0.1", "reserved"},
      {"255.255.255.255", "reserved"},
      {"192.0.0.8", "reserved"},
      {"198.18.0.1", "reserved"},
      {"192.0.2.1", "documentation"},
      {"198.51.100.7", "documentation"},
      {"203.0.113.9", "documentation"},
      {"8.8.8.8", NULL},
      {"1.1.1.1", NULL},
      {"93.184.216.34", NULL},
      {"::", "unspecified"},
      {"::1", "loopback"},
      {"::ffff:127.0.0.1", "loopback"},
      {"::ffff:10.1.2.3", "private"},
      {"::ffff:169.254.169.254", "link-local"},
      {"::ffff:8.8.8.8", NULL},
      {"64:ff9b::7f00:1", "loopback"},
      {"64:ff9b::808:808", NULL},
      {"2002:7f00:1::", "loopback"},
      {"2002:a00:1::1", "private"},
      {"::127.0.0.1", "reserved"},
      {"::2", "reserved"},
      {"fc00::1", "private"},
      {"fd12:3456::1", "private"},
      {"fec0::1", "private"},
      {"fe80::1", "link-local"},
      {"febf::1", "link-local"},
      {"ff02::1", "multicast"},
      {"ff05::2", "multicast"},
      {"2001:db8::1", "documentation"},
      {"2001::1", "reserved"},
      {"100::1", "reserved"},
      {"4000::1", "reserved"},
      {"2001:4860:4860::8888", NULL},
      {"2606:4700:4700::1111", NULL},
      {"2a00:1450:4001::1", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *k = kind_of(cases[i].addr);
    if (cases[i].kind)
      ck_assert_msg(k && strcmp(k, cases[i].kind) == 0, "%s: %s, want %s", cases[i].addr, k ? k : "public",
                    cases[i].kind);
    else
      ck_assert_msg(k == NULL, "%s: %s, want public", cases[i].addr, k);
  }
}
END_TEST

/* Checks url against the current allow-list: accepted when want_why is NULL, else refused with a
 * reason containing want_why. */
static void url_case(const char *url, const char *want_why) {
  char why[256] = "";
  bool ok = partner_webhook_url_check(url, why, sizeof why);
  if (!want_why)
    ck_assert_msg(ok, "%s refused: %s", url, why);
  else
    ck_assert_msg(!ok && strstr(why, want_why) != NULL, "%s: %s (%s), want refused: %s", url,
                  ok ? "accepted" : "refused", why, want_why);
}

START_TEST(urls_with_no_allow_list) {
  char err[256];
  ck_assert(partner_webhook_set_allow("", err, sizeof err));
  static const struct {
    const char *url, *why;
  } cases[] = {
      {"https://partner.example/hooks/sparkd", NULL},
      {"http://partner.example:8443/h?x=1", NULL},
      {"https://8.8.8.8/hook", NULL},
      {"https://[2001:4860:4860::8888]:443/hook", NULL},
      {"HTTPS://Partner.Example/hook", NULL},
      {"ftp://partner.example/", "must be an http:// or https:// url"},
      {"file:///etc/passwd", "must be an http:// or https:// url"},
      {"gopher://partner.example/", "must be an http:// or https:// url"},
      {"partner.example/hook", "must be an http:// or https:// url"},
      {"http://", "must be an http:// or https:// url"},
      {"http:///hook", "must be an http:// or https:// url"},
      {"http://partner.example/a b", "spaces or control characters"},
      {"http://user:pass@partner.example/", "credentials"},
      {"http://user@partner.example/", "credentials"},
      {"http://:pass@partner.example/", "credentials"},
      {"http://partner.example:99999/", "port must be a number from 1 to 65535"},
      {"http://partner.example:65536/", "port must be a number from 1 to 65535"},
      {"http://partner.example:-1/", "port must be a number from 1 to 65535"},
      {"http://partner.example:0/", "port must be a number from 1 to 65535"},
      {"http://partner.example:8x/", "port must be a number from 1 to 65535"},
      {"http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address: webhooks are sent to public addresses only"},
      {"http://127.0.0.1./hook", "127.0.0.1 is a loopback address"},
      {"http://127.1/hook", "127.0.0.1 is a loopback address"},
      {"http://0x7f.1/hook", "127.0.0.1 is a loopback address"},
      {"http://0x7f000001/hook", "127.0.0.1 is a loopback address"},
      {"http://2130706433/hook", "127.0.0.1 is a loopback address"},
      {"http://0177.0.0.1/hook", "127.0.0.1 is a loopback address"},
      {"http://[::1]:5432/", "::1 is a loopback address"},
      {"http://[::ffff:127.0.0.1]/", "is a loopback address"},
      {"http://[0:0:0:0:0:0:0:1]/", "::1 is a loopback address"},
      {"http://0.0.0.0:22/", "0.0.0.0 is an unspecified address"},
      {"http://0/", "0.0.0.0 is an unspecified address"},
      {"http://[::]/", ":: is an unspecified address"},
      {"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
      {"http://[fe80::1]/", "fe80::1 is a link-local address"},
      {"http://[fe80::1%25eth0]/", "zone"},
      {"http://10.0.0.1/", "10.0.0.1 is a private address"},
      {"http://172.16.5.4/", "172.16.5.4 is a private address"},
      {"http://192.168.0.10/", "192.168.0.10 is a private address"},
      {"http://[fd00::1]/", "fd00::1 is a private address"},
      {"http://100.64.0.1/", "100.64.0.1 is a shared address"},
      {"http://224.0.0.1/", "224.0.0.1 is a multicast address"},
      {"http://[ff02::1]/", "ff02::1 is a multicast address"},
      {"http://255.255.255.255/", "is a reserved address"},
      {"http://localhost:8080/admin", "localhost is a loopback name: webhooks are sent to public addresses only"},
      {"http://LOCALHOST./", "is a loopback name"},
      {"http://api.localhost/", "is a loopback name"},
      {"http://ip6-localhost/", "is a loopback name"},
      {"http://localhost.localdomain/", "is a loopback name"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    url_case(cases[i].url, cases[i].why);
  char longurl[2100] = "https://partner.example/";
  memset(longurl + strlen(longurl), 'a', 2049 - strlen(longurl));
  longurl[2049] = 0;
  url_case(longurl, "at most 2048 characters");
  longurl[2048] = 0;
  url_case(longurl, NULL);
}
END_TEST

START_TEST(urls_with_an_allow_list) {
  char err[256];
  ck_assert(partner_webhook_set_allow(" 127.0.0.0/8, ::1 ,10.1.0.0/16", err, sizeof err));
  url_case("http://127.0.0.1:8080/hook", NULL);
  url_case("http://127.1/hook", NULL);
  url_case("http://[::1]:8080/hook", NULL);
  url_case("http://[::ffff:127.0.0.1]/hook", NULL); /* the same address on the wire */
  url_case("http://localhost:8080/hook", NULL);
  url_case("http://10.1.200.3/hook", NULL);
  url_case("http://10.2.0.1/hook", "10.2.0.1 is a private address");
  url_case("http://169.254.169.254/", "is a link-local address");
  url_case("http://[::2]/", "is a reserved address");
  /* the allow-list lets addresses through, not credentials or bad ports */
  url_case("http://u:p@127.0.0.1/", "credentials");
  url_case("http://127.0.0.1:99999/", "port must be");
  unsigned char a[16];
  inet_pton(AF_INET6, "::1", a);
  char why[128];
  ck_assert(partner_addr_allowed(AF_INET6, a, why, sizeof why));
  inet_pton(AF_INET6, "::2", a);
  ck_assert(!partner_addr_allowed(AF_INET6, a, why, sizeof why));
  ck_assert_str_eq(why, "::2 is a reserved address");
  ck_assert(partner_webhook_set_allow("0.0.0.0/0", err, sizeof err));
  url_case("http://192.168.1.1/", NULL);
  url_case("http://[fd00::1]/", "is a private address"); /* an IPv4 network allows no IPv6 address */
  ck_assert(partner_webhook_set_allow(NULL, err, sizeof err));
  url_case("http://127.0.0.1/", "is a loopback address");
}
END_TEST

START_TEST(allow_list_parsing) {
  char err[256] = "";
  ck_assert(partner_webhook_set_allow("127.0.0.1", err, sizeof err));
  static const struct {
    const char *list, *err;
  } bad[] = {
      {"127.0.0.0/33", "\"127.0.0.0/33\": the prefix length must be from 0 to 32"},
      {"::1/129", "\"::1/129\": the prefix length must be from 0 to 128"},
      {"10.0.0.0/", "the prefix length must be"},
      {"10.0.0.0/-8", "the prefix length must be"},
      {"10.0.0.0/8x", "the prefix length must be"},
      {"localhost", "\"localhost\" is not an address or a network"},
      {"127.1", "\"127.1\" is not an address or a network"},
      {"10.0.0.0/8,nope", "\"nope\" is not an address or a network"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_msg(!partner_webhook_set_allow(bad[i].list, err, sizeof err), "%s accepted", bad[i].list);
    ck_assert_msg(strstr(err, bad[i].err) != NULL, "%s: %s", bad[i].list, err);
  }
  /* a refused list leaves the one set before */
  url_case("http://127.0.0.1/", NULL);
  url_case("http://127.0.0.2/", "is a loopback address");
  ck_assert(partner_webhook_set_allow(",, ,", err, sizeof err));
  url_case("http://127.0.0.1/", "is a loopback address");
}
END_TEST

int main(void) {
  Suite *s = suite_create("webhook_target");
  TCase *tc = tcase_create("webhook_target");
  tcase_add_test(tc, address_kinds);
  tcase_add_test(tc, urls_with_no_allow_list);
  tcase_add_test(tc, urls_with_an_allow_list);
  tcase_add_test(tc, allow_list_parsing);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
