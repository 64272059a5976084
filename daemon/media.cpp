/* sugarcastd — media folders, opened beneath. See media.h. */
#include "media.h"
#include "guard.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>

namespace sugarcast {

namespace {

/* Where the kernel has no openat2 (before 5.6) or a sandbox refuses it: open
 * beneath the folder, then check where the descriptor really is. */
int open_checked_by_path(int root, const std::string &dir, const std::string &relative)
{
  const int fd = openat(root, relative.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -1;
  char real_root[PATH_MAX], real_file[PATH_MAX];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = readlink(link.c_str(), real_file, sizeof real_file - 1);
  if (n > 0 && realpath(dir.c_str(), real_root)) {
    const std::string file(real_file, static_cast<size_t>(n));
    const std::string inside = std::string(real_root) + "/";
    if (file.compare(0, inside.size(), inside) == 0)
      return fd;
  }
  close(fd);
  errno = EXDEV;
  return -1;
}

} // namespace

MediaRoot::MediaRoot(std::string dir) : dir_(std::move(dir)) {}

MediaRoot::~MediaRoot()
{
  const int fd = fd_.load();
  if (fd >= 0)
    close(fd);
}

int MediaRoot::fd() const
{
  int fd = fd_.load(std::memory_order_acquire);
  if (fd >= 0)
    return fd;
  const int opened = ::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (opened < 0)
    return -1;
  /* Two threads may race to open it: one keeps its descriptor. */
  if (fd_.compare_exchange_strong(fd, opened, std::memory_order_acq_rel))
    return opened;
  close(opened);
  return fd;
}

int MediaRoot::open(const std::string &relative, struct stat &st) const
{
  const int root = fd();
  if (root < 0 || relative.empty())
    return -1;
  /* The kernel resolves every component and every symbolic link, and fails
   * with EXDEV when any step would leave the folder. */
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, root, relative.c_str(), &how, sizeof how));
  if (fd < 0 && (errno == ENOSYS || errno == EPERM))
    fd = open_checked_by_path(root, dir_, relative);
  if (fd < 0)
    return -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return -1;
  }
  return fd;
}

bool same_file_version(const struct stat &a, const struct stat &b)
{
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

bool file_settled(const struct stat &st)
{
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  const auto ns = [](const timespec &t) {
    return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
  };
  const int64_t settled = ns(now) - 50'000'000;
  return ns(st.st_mtim) <= settled && ns(st.st_ctim) <= settled;
}

bool MediaRoot::read_all(int fd, const struct stat &st, size_t max_bytes, std::string &out)
{
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max_bytes)
    return false;
  out.assign(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

} // namespace sugarcast
