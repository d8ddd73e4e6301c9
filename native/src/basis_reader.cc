#include "basis_reader.h"

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#else
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#endif

#include <limits>

namespace axis {

#ifdef _WIN32

namespace {
std::string WinErrorText(DWORD code) {
  char buf[256];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                           code, 0, buf, sizeof buf, nullptr);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
  return n > 0 ? std::string(buf, n) : ("Windows error " + std::to_string(code));
}
}  // namespace

bool BasisReader::Open() {
  if (handle_ != nullptr) return true;
  int wlen = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path_.c_str(), -1, nullptr, 0);
  if (wlen <= 0) {
    error_ = "cannot open basis file '" + path_ + "': invalid UTF-8 path";
    return false;
  }
  std::wstring wpath(static_cast<size_t>(wlen), L'\0');
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path_.c_str(), -1, &wpath[0], wlen);
  HANDLE h = CreateFileW(wpath.c_str(), GENERIC_READ,
                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                         OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    error_ = "cannot open basis file '" + path_ + "': " + WinErrorText(GetLastError());
    return false;
  }
  handle_ = h;
  return true;
}

int64_t BasisReader::ReadAt(int64_t offset, void* dst, size_t len) {
  size_t done = 0;
  char* out = static_cast<char*>(dst);
  while (done < len) {
    DWORD want = static_cast<DWORD>(
        (len - done) > 0x40000000u ? 0x40000000u : (len - done));  // 1 GiB per call max
    OVERLAPPED ov = {};
    uint64_t pos = static_cast<uint64_t>(offset) + done;
    ov.Offset = static_cast<DWORD>(pos & 0xffffffffu);
    ov.OffsetHigh = static_cast<DWORD>(pos >> 32);
    DWORD got = 0;
    if (!ReadFile(static_cast<HANDLE>(handle_), out + done, want, &got, &ov)) {
      DWORD err = GetLastError();
      if (err == ERROR_HANDLE_EOF) break;
      error_ = "cannot read basis file '" + path_ + "': " + WinErrorText(err);
      return -1;
    }
    if (got == 0) break;
    done += got;
  }
  return static_cast<int64_t>(done);
}

void BasisReader::Close() {
  if (handle_ != nullptr) {
    CloseHandle(static_cast<HANDLE>(handle_));
    handle_ = nullptr;
  }
}

#else  // POSIX

bool BasisReader::Open() {
  if (fd_ >= 0) return true;
  int flags = O_RDONLY;
#ifdef O_CLOEXEC
  flags |= O_CLOEXEC;
#endif
  int fd;
  do {
    fd = ::open(path_.c_str(), flags);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    error_ = "cannot open basis file '" + path_ + "': " + strerror(errno);
    return false;
  }
  fd_ = fd;
  return true;
}

int64_t BasisReader::ReadAt(int64_t offset, void* dst, size_t len) {
  size_t done = 0;
  char* out = static_cast<char*>(dst);
  const size_t kMaxChunk = static_cast<size_t>(std::numeric_limits<int>::max()) & ~size_t{4095};
  while (done < len) {
    size_t want = len - done > kMaxChunk ? kMaxChunk : len - done;
    ssize_t got = ::pread(fd_, out + done, want, static_cast<off_t>(offset + static_cast<int64_t>(done)));
    if (got < 0) {
      if (errno == EINTR) continue;
      error_ = "cannot read basis file '" + path_ + "': " + strerror(errno);
      return -1;
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return static_cast<int64_t>(done);
}

void BasisReader::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

#endif

}  // namespace axis
