#include "daemon/cookie.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace hb {
namespace {

Result<std::string> CreateCookieFile(const std::string& path) {
  unsigned char rnd[20];
  if (RAND_bytes(rnd, sizeof(rnd)) != 1) return Internal("no randomness for a new cookie");
  std::string cookie;
  for (unsigned char c : rnd) cookie.push_back(static_cast<char>('A' + c % 26));
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0400);
  if (fd < 0) return PermissionDenied("cannot create cookie file " + path + ": " + strerror(errno));
  ssize_t n = write(fd, cookie.data(), cookie.size());
  close(fd);
  if (n != static_cast<ssize_t>(cookie.size())) return Internal("short write to " + path);
  return cookie;
}

// The cookie file LoadCookie reads: the configured one, else
// $HOME/.erlang.cookie (*is_default set).
Result<std::string> CookiePath(const std::string& cookie_file, bool* is_default) {
  *is_default = cookie_file.empty();
  if (!*is_default) return cookie_file;
  const char* home = getenv("HOME");
  if (home == nullptr || *home == '\0') {
    return NotFound("no --cookie, no --cookie-file and no $HOME to find .erlang.cookie in");
  }
  return std::string(home) + "/.erlang.cookie";
}

// Reads and checks the cookie file; `create` makes a missing default one.
Result<std::string> ReadCookie(const std::string& cookie_file, bool create) {
  bool is_default = false;
  Result<std::string> where = CookiePath(cookie_file, &is_default);
  if (!where.ok()) return where;
  const std::string& path = *where;
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    if (errno == ENOENT && is_default) {
      if (create) return CreateCookieFile(path);
      return std::string();  // erl's behaviour: created on first start
    }
    return NotFound("cannot read cookie file " + path + ": " + strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return InvalidArgument("cookie file " + path + " is not a regular file");
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    close(fd);
    return PermissionDenied("cookie file " + path +
                            " is accessible by group or others (chmod 400 it, as erl requires)");
  }
  std::string cookie;
  char buf[512];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0 && cookie.size() < 4096) cookie.append(buf, n);
  close(fd);
  while (!cookie.empty() && (cookie.back() == '\n' || cookie.back() == '\r' || cookie.back() == ' ')) {
    cookie.pop_back();
  }
  if (cookie.empty()) return InvalidArgument("cookie file " + path + " is empty");
  return cookie;
}

}  // namespace

Result<std::string> LoadCookie(const std::string& explicit_cookie, const std::string& cookie_file) {
  if (!explicit_cookie.empty()) return explicit_cookie;
  return ReadCookie(cookie_file, /*create=*/true);
}

Status CheckCookie(const std::string& explicit_cookie, const std::string& cookie_file) {
  if (!explicit_cookie.empty()) return Status::Ok();
  Result<std::string> r = ReadCookie(cookie_file, /*create=*/false);
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace hb
