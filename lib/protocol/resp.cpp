// RESP encoding of commands, the capped hiredis reader, and reply/reader errors as rcache Errors.
#include "protocol/resp.hpp"

#include <charconv>
#include <climits>

namespace rcache::detail {

void RespWriter::header(char type, std::size_t n) {
  char buf[24];
  buf[0] = type;
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf - 2, n);
  (void)ec;  // 20 digits always fit
  *end++ = '\r';
  *end++ = '\n';
  out_.append(buf, static_cast<std::size_t>(end - buf));
}

void RespWriter::begin(std::size_t argc) {
  header('*', argc);
}

void RespWriter::arg(std::string_view a) {
  header('$', a.size());
  out_.append(a);
  out_.append("\r\n", 2);
}

void RespWriter::arg(std::string_view first, std::string_view second) {
  header('$', first.size() + second.size());
  out_.append(first);
  out_.append(second);
  out_.append("\r\n", 2);
}

void RespWriter::arg(std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  arg(std::string_view(buf, static_cast<std::size_t>(end - buf)));
}

Error error_from_reader(const redisReader& reader) {
  std::string message = "invalid reply from server: ";
  message += reader.errstr[0] != '\0' ? reader.errstr : "unparseable RESP";
  return Error{Errc::protocol, std::move(message)};
}

Reply to_reply(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_NIL:
      out.kind = Reply::Kind::nil;
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = Reply::Kind::integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_ERROR:
      out.kind = r.type == REDIS_REPLY_STRING   ? Reply::Kind::string
                 : r.type == REDIS_REPLY_STATUS ? Reply::Kind::status
                                                : Reply::Kind::error;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = Reply::Kind::array;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(to_reply(*r.element[i]));
      break;
    default:
      out.kind = Reply::Kind::nil;
      break;
  }
  return out;
}

std::string_view reply_type_name(int type) noexcept {
  switch (type) {
    case REDIS_REPLY_STRING:
      return "string";
    case REDIS_REPLY_ARRAY:
      return "array";
    case REDIS_REPLY_INTEGER:
      return "integer";
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_STATUS:
      return "status";
    case REDIS_REPLY_ERROR:
      return "error";
    default:
      return "unknown";
  }
}

namespace {
// hiredis 0.14 allocates an element vector as large as the count a server announces; besides the
// budget, a hard cap keeps a corrupt count from a multi-gigabyte calloc even with a huge budget.
constexpr int kMaxArrayElements = 16 * 1024 * 1024;

struct ReplyFunctions {
  redisReplyObjectFunctions defaults{};  // hiredis' own (static in hiredis.c: read off a reader)
  redisReplyObjectFunctions budgeted{};
  bool ok = false;
};

const ReplyFunctions& reply_functions() noexcept;

// Every task's root carries the reader's privdata: the budget.
bool charge(const redisReadTask* task, std::size_t bytes) noexcept {
  while (task->parent != nullptr) task = task->parent;
  auto* budget = static_cast<ReplyBudget*>(task->privdata);
  if (budget == nullptr) return true;
  if (bytes > budget->limit || budget->used > budget->limit - bytes) {
    budget->exceeded = true;
    return false;  // the reader reports an out-of-memory error and frees what it built
  }
  budget->used += bytes;
  return true;
}

void* create_string(const redisReadTask* task, char* str, std::size_t len) {
  if (!charge(task, len + ReplyBudget::kObjectCost)) return nullptr;
  return reply_functions().defaults.createString(task, str, len);
}

void* create_array(const redisReadTask* task, int elements) {
  if (elements < 0 || elements > kMaxArrayElements) return nullptr;
  if (!charge(task,
              static_cast<std::size_t>(elements) * sizeof(void*) + ReplyBudget::kObjectCost)) {
    return nullptr;
  }
  return reply_functions().defaults.createArray(task, elements);
}

void* create_integer(const redisReadTask* task, long long value) {
  if (!charge(task, ReplyBudget::kObjectCost)) return nullptr;
  return reply_functions().defaults.createInteger(task, value);
}

void* create_nil(const redisReadTask* task) {
  if (!charge(task, ReplyBudget::kObjectCost)) return nullptr;
  return reply_functions().defaults.createNil(task);
}

// Built on first use (thread-safe static initialization), not at load time.
const ReplyFunctions& reply_functions() noexcept {
  static const ReplyFunctions fns = [] {
    ReplyFunctions f;
    redisReader* probe = redisReaderCreate();
    if (probe == nullptr || probe->fn == nullptr) {
      if (probe != nullptr) redisReaderFree(probe);
      return f;
    }
    f.defaults = *probe->fn;
    redisReaderFree(probe);
    f.budgeted = f.defaults;
    f.budgeted.createString = create_string;
    f.budgeted.createArray = create_array;
    f.budgeted.createInteger = create_integer;
    f.budgeted.createNil = create_nil;
    f.ok = true;
    return f;
  }();
  return fns;
}
}  // namespace

redisReader* create_reader(ReplyBudget* budget) {
  const ReplyFunctions& fns = reply_functions();
  if (!fns.ok) return nullptr;
  redisReader* r =
      redisReaderCreateWithFunctions(const_cast<redisReplyObjectFunctions*>(&fns.budgeted));
  if (r != nullptr) r->privdata = budget;
  return r;
}

}  // namespace rcache::detail
