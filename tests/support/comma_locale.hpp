// A comma-decimal locale (de_DE.UTF-8) for tests of locale-independent output: compiled with
// localedef into a private directory (LOCPATH), so no system locale needs to be installed, and
// activated for C (setlocale) and C++ (std::locale::global). The previous locales come back when
// the object goes away.
//
// Thread safety: changes process-wide state; use from the test's main thread only.
#pragma once

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <locale>
#include <string>

// glibc's setlocale builds its LOCPATH search list with argz and keeps it (42 bytes): not ours to
// free. LeakSanitizer reads this hook from the test binary; one test file per binary includes
// this header.
extern "C" __attribute__((used, visibility("default"))) const char*
__lsan_default_suppressions() {  // NOLINT
  return "leak:__argz_add_sep\n";
}

namespace rcache::test {

class CommaLocale {
 public:
  CommaLocale() {
    char tmpl[] = "/tmp/rcache-locale-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    const std::string cmd =
        "localedef -i de_DE -f UTF-8 " + dir_ + "/de_DE.UTF-8 > " + dir_ + "/localedef.log 2>&1";
    // localedef exits 1 on warnings with the locale still written: judge by the result.
    (void)std::system(cmd.c_str());
    ::setenv("LOCPATH", dir_.c_str(), 1);
    if (const char* old = std::setlocale(LC_ALL, nullptr)) old_c_ = old;
    if (std::setlocale(LC_ALL, "de_DE.UTF-8") == nullptr) {
      error_ = "cannot activate de_DE.UTF-8 built by localedef in " + dir_ +
               " (is the 'locales' package installed?)";
      return;
    }
    try {
      old_cpp_ = std::locale::global(std::locale("de_DE.UTF-8"));
    } catch (const std::exception& e) {
      error_ = std::string("std::locale(\"de_DE.UTF-8\"): ") + e.what();
      return;
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "%g", 0.5);
    if (std::string(buf) != "0,5") error_ = std::string("locale active but printf gives ") + buf;
  }
  ~CommaLocale() {
    std::setlocale(LC_ALL, old_c_.c_str());
    std::locale::global(old_cpp_);
    ::unsetenv("LOCPATH");
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  CommaLocale(const CommaLocale&) = delete;
  CommaLocale& operator=(const CommaLocale&) = delete;
  // "" when "%g" of 0.5 prints "0,5" now; else why not.
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  std::string old_c_ = "C";
  std::locale old_cpp_ = std::locale::classic();
  std::string error_;
};

}  // namespace rcache::test
