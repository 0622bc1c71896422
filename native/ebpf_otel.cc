// ebpf-otel native addon: a thin, generic wrapper of the system libbpf (1.0-era API only, so the
// oldest libbpf1 in the field works). It knows nothing about any tool: objects, programs, links,
// maps and perf events. Every failure becomes a JS Error naming the object, program or map and
// carrying the errno, so the TypeScript side can turn it into a one-line message.

#include <napi.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

// The light-skeleton runtime of libbpf (bpf_load_and_run and its context layout): what runs the
// loader program that libbpf's gen_loader writes (BpfObject::LoadInKernel).
#include <bpf/skel_internal.h>

namespace {

// libbpf's chatter is kept here instead of going to the user's terminal; `--verbose` prints it.
std::string g_log;
int g_log_level = LIBBPF_WARN;
constexpr size_t kMaxLog = 1 << 20;

int LogToBuffer(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level > g_log_level) return 0;
  if (g_log.size() >= kMaxLog) return 0;
  // A failed load's verifier log comes as one message of many KiB: size the buffer to it, or
  // only its first lines would be kept and the reason (at its end) lost.
  va_list again;
  va_copy(again, args);
  char small[1024];
  int n = vsnprintf(small, sizeof(small), fmt, args);
  if (n > 0 && static_cast<size_t>(n) < sizeof(small)) {
    g_log.append(small, n);
  } else if (n > 0) {
    std::string big(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(big.data(), big.size(), fmt, again);
    big.resize(static_cast<size_t>(n));
    if (big.size() > kMaxLog) big.erase(0, big.size() - kMaxLog); // keep the end: the reason
    g_log.append(big);
  }
  va_end(again);
  return n;
}

const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return "E?";
  }
}

// Throws `what: <strerror> (ENAME, errno N)` with .errno and .code set. `err` may be negative.
[[noreturn]] void ThrowErrno(Napi::Env env, const std::string& what, int err) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;
  char reason[128];
  libbpf_strerror(err, reason, sizeof(reason));
  std::string msg = what + ": " + reason + " (" + ErrnoName(err) + ", errno " + std::to_string(err) + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  throw e;
}

[[noreturn]] void ThrowPlain(Napi::Env env, const std::string& msg) {
  throw Napi::Error::New(env, msg);
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}

int64_t OptInt(const Napi::Object& o, const char* key, int64_t dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : dflt;
}

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "BpfObject", {
      InstanceMethod("programs", &BpfObject::Programs),
      InstanceMethod("maps", &BpfObject::Maps),
      InstanceMethod("setGlobal", &BpfObject::SetGlobal),
      InstanceMethod("setAutoload", &BpfObject::SetAutoload),
      InstanceMethod("setMaxEntries", &BpfObject::SetMaxEntries),
      InstanceMethod("shareMaps", &BpfObject::ShareMaps),
      InstanceMethod("load", &BpfObject::Load),
      InstanceMethod("loadInKernel", &BpfObject::LoadInKernel),
      InstanceMethod("programFd", &BpfObject::ProgramFd),
      InstanceMethod("attach", &BpfObject::Attach),
      InstanceMethod("attachTrace", &BpfObject::AttachTrace),
      InstanceMethod("attachRawTracepoint", &BpfObject::AttachRawTracepoint),
      InstanceMethod("attachTracepoint", &BpfObject::AttachTracepoint),
      InstanceMethod("attachUprobe", &BpfObject::AttachUprobe),
      InstanceMethod("attachPerfEvent", &BpfObject::AttachPerfEvent),
      InstanceMethod("detach", &BpfObject::Detach),
      InstanceMethod("mapLookup", &BpfObject::MapLookup),
      InstanceMethod("mapUpdate", &BpfObject::MapUpdate),
      InstanceMethod("mapUpdateBatch", &BpfObject::MapUpdateBatch),
      InstanceMethod("mapDelete", &BpfObject::MapDelete),
      InstanceMethod("mapEntries", &BpfObject::MapEntries),
      InstanceMethod("mapClear", &BpfObject::MapClear),
      InstanceMethod("ringConsume", &BpfObject::RingConsume),
      InstanceMethod("close", &BpfObject::Close),
    });
  }

  explicit BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
    path_ = ArgString(info, 0, "object path");
    obj_ = bpf_object__open_file(path_.c_str(), nullptr);
    int err = libbpf_get_error(obj_);
    if (err) {
      obj_ = nullptr;
      ThrowErrno(info.Env(), "bpf object '" + path_ + "': open failed", err);
    }
  }

  ~BpfObject() override { Destroy(); }

 private:
  struct bpf_object* obj_ = nullptr;
  std::string path_;
  bool loaded_ = false;
  // A link is libbpf's (objects load()ed) or a link fd and, for perf events, the event's fd
  // (objects loaded in the kernel, whose programs libbpf holds no fd of).
  struct Link {
    struct bpf_link* link = nullptr;
    int fd = -1;
    int event_fd = -1;
  };
  std::vector<Link> links_;
  // Set by LoadInKernel: the fds the kernel's loader made, by libbpf's map and program names.
  bool in_kernel_ = false;
  std::map<std::string, int> map_fds_;
  std::map<std::string, int> prog_fds_;
  // Ring buffer readers by map name, created on first use; records collect in `pending` while
  // ring_buffer__consume runs, up to `budget` bytes (0: no limit).
  struct Ring {
    struct ring_buffer* rb = nullptr;
    std::vector<uint8_t> pending;
    size_t budget = 0;
  };
  std::map<std::string, Ring*> rings_;

  // What OnRecord returns to make libbpf stop after a record once the budget is spent: libbpf
  // then marks that record consumed and returns this value from ring_buffer__consume.
  static constexpr int kBudgetSpent = -EFBIG;

  static int OnRecord(void* ctx, void* data, size_t size) {
    auto* ring = static_cast<Ring*>(ctx);
    auto* out = &ring->pending;
    uint32_t len = static_cast<uint32_t>(size);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&len);
    out->insert(out->end(), p, p + 4);
    const uint8_t* d = static_cast<const uint8_t*>(data);
    out->insert(out->end(), d, d + size);
    out->resize((out->size() + 3) & ~static_cast<size_t>(3), 0);
    return ring->budget && out->size() >= ring->budget ? kBudgetSpent : 0;
  }

  void Destroy() {
    for (auto& r : rings_) {
      if (r.second->rb) ring_buffer__free(r.second->rb);
      delete r.second;
    }
    rings_.clear();
    for (Link& l : links_) Release(l);
    for (auto& m : map_fds_) close(m.second);
    map_fds_.clear();
    for (auto& p : prog_fds_) close(p.second);
    prog_fds_.clear();
    if (obj_) bpf_object__close(obj_);
    obj_ = nullptr;
  }

  static void Release(Link& l) {
    if (l.link) bpf_link__destroy(l.link);
    if (l.fd >= 0) close(l.fd);
    if (l.event_fd >= 0) close(l.event_fd);
    l = Link();
  }

  void EnsureOpen(Napi::Env env) {
    if (!obj_) ThrowPlain(env, "bpf object '" + path_ + "' is closed");
  }

  struct bpf_program* Prog(Napi::Env env, const std::string& name) {
    EnsureOpen(env);
    struct bpf_program* p = bpf_object__find_program_by_name(obj_, name.c_str());
    if (!p) ThrowErrno(env, "bpf object '" + path_ + "': no program '" + name + "'", ENOENT);
    return p;
  }

  struct bpf_map* Map(Napi::Env env, const std::string& name) {
    EnsureOpen(env);
    struct bpf_map* m = bpf_object__find_map_by_name(obj_, name.c_str());
    if (!m) ThrowErrno(env, "bpf object '" + path_ + "': no map '" + name + "'", ENOENT);
    return m;
  }

  int MapFd(Napi::Env env, const std::string& name, struct bpf_map** out = nullptr) {
    struct bpf_map* m = Map(env, name);
    if (!loaded_) ThrowPlain(env, "map '" + name + "' is not usable before load()");
    if (out) *out = m;
    return FdOf(m);
  }

  int FdOf(struct bpf_map* m) {
    if (!in_kernel_) return bpf_map__fd(m);
    auto it = map_fds_.find(bpf_map__name(m));
    return it == map_fds_.end() ? -EBADF : it->second;
  }

  int FdOf(struct bpf_program* p) {
    if (!in_kernel_) return bpf_program__fd(p);
    auto it = prog_fds_.find(bpf_program__name(p));
    return it == prog_fds_.end() ? -EBADF : it->second;
  }

  static bool IsPerCpu(struct bpf_map* m) {
    switch (bpf_map__type(m)) {
      case BPF_MAP_TYPE_PERCPU_ARRAY:
      case BPF_MAP_TYPE_PERCPU_HASH:
      case BPF_MAP_TYPE_LRU_PERCPU_HASH:
        return true;
      default:
        return false;
    }
  }

  // Size of the buffer the lookup syscall fills: per-CPU maps return one 8-byte-aligned slot per
  // possible CPU.
  static size_t ValueBufSize(struct bpf_map* m) {
    size_t vs = bpf_map__value_size(m);
    if (!IsPerCpu(m)) return vs;
    int ncpu = libbpf_num_possible_cpus();
    return ((vs + 7) / 8) * 8 * (ncpu > 0 ? ncpu : 1);
  }

  Napi::Value AddLink(Napi::Env env, struct bpf_link* link, const std::string& what) {
    int err = libbpf_get_error(link);
    if (err) ThrowErrno(env, what, err);
    Link l;
    l.link = link;
    links_.push_back(l);
    return Napi::Number::New(env, static_cast<double>(links_.size() - 1));
  }

  // A link made by fd (objects loaded in the kernel): `fd` is the link's fd or a negative errno.
  Napi::Value AddLinkFd(Napi::Env env, int fd, const std::string& what) {
    if (fd < 0) ThrowErrno(env, what, fd == -1 ? -errno : fd);
    Link l;
    l.fd = fd;
    links_.push_back(l);
    return Napi::Number::New(env, static_cast<double>(links_.size() - 1));
  }

  // An attach kind this wrapper makes only through libbpf, asked of an object loaded in the
  // kernel: LoadInKernel leaves the program types that need one to load().
  void RefuseInKernel(Napi::Env env, const std::string& name) {
    if (in_kernel_) ThrowErrno(env, "program '" + name + "': this attach needs an object loaded by load()", ENOTSUP);
  }

  Napi::Value Programs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    struct bpf_program* p;
    bpf_object__for_each_program(p, obj_) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_program__name(p));
      o.Set("section", bpf_program__section_name(p));
      o.Set("type", static_cast<double>(bpf_program__type(p)));
      o.Set("autoload", bpf_program__autoload(p));
      out.Set(i++, o);
    }
    return out;
  }

  Napi::Value Maps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    struct bpf_map* m;
    bpf_object__for_each_map(m, obj_) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", bpf_map__name(m));
      o.Set("type", static_cast<double>(bpf_map__type(m)));
      o.Set("keySize", static_cast<double>(bpf_map__key_size(m)));
      o.Set("valueSize", static_cast<double>(bpf_map__value_size(m)));
      o.Set("maxEntries", static_cast<double>(bpf_map__max_entries(m)));
      o.Set("internal", bpf_map__is_internal(m));
      out.Set(i++, o);
    }
    return out;
  }

  static bool EndsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  }

  // setGlobal(name, Buffer): writes a global variable (a `const volatile` in .rodata, or one in
  // .data/.bss) before load, found by name through the object's BTF, as a skeleton would.
  Napi::Value SetGlobal(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    std::string name = ArgString(info, 0, "variable name");
    Napi::Buffer<uint8_t> value = ArgBuffer(info, 1, "value");
    if (loaded_) ThrowPlain(env, "global '" + name + "': cannot be set after load()");
    const struct btf* btf = bpf_object__btf(obj_);
    if (!btf) ThrowErrno(env, "global '" + name + "': object has no BTF", ENOENT);
    uint32_t n = btf__type_cnt(btf);
    for (uint32_t id = 1; id < n; id++) {
      const struct btf_type* t = btf__type_by_id(btf, id);
      if (!btf_is_datasec(t)) continue;
      std::string sec = btf__name_by_offset(btf, t->name_off);
      const struct btf_var_secinfo* vs = btf_var_secinfos(t);
      for (uint16_t k = 0; k < btf_vlen(t); k++, vs++) {
        const struct btf_type* var = btf__type_by_id(btf, vs->type);
        if (name != btf__name_by_offset(btf, var->name_off)) continue;
        if (value.Length() != vs->size)
          ThrowPlain(env, "global '" + name + "': size " + std::to_string(value.Length()) +
                              " given, variable has " + std::to_string(vs->size));
        struct bpf_map* m;
        bpf_object__for_each_map(m, obj_) {
          if (!bpf_map__is_internal(m) || !EndsWith(bpf_map__name(m), sec)) continue;
          size_t size = 0;
          void* data = const_cast<void*>(bpf_map__initial_value(m, &size));
          if (!data || vs->offset + vs->size > size)
            ThrowErrno(env, "global '" + name + "': section " + sec + " not writable", EINVAL);
          memcpy(static_cast<uint8_t*>(data) + vs->offset, value.Data(), vs->size);
          return env.Undefined();
        }
        ThrowErrno(env, "global '" + name + "': no map for section " + sec, ENOENT);
      }
    }
    ThrowErrno(env, "bpf object '" + path_ + "': no global variable '" + name + "'", ENOENT);
  }

  Napi::Value SetAutoload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "program name");
    bool on = info.Length() > 1 && info[1].ToBoolean().Value();
    int err = bpf_program__set_autoload(Prog(env, name), on);
    if (err) ThrowErrno(env, "program '" + name + "': set autoload failed", err);
    return env.Undefined();
  }

  Napi::Value SetMaxEntries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "map name");
    int64_t n = ArgInt(info, 1, "max entries");
    int err = bpf_map__set_max_entries(Map(env, name), static_cast<uint32_t>(n));
    if (err) ThrowErrno(env, "map '" + name + "': set max entries failed", err);
    return env.Undefined();
  }

  // The program libbpf names last in its log is the one whose load failed.
  static std::string FailedProgramFromLog(size_t since) {
    std::string tail = g_log.substr(std::min(since, g_log.size()));
    size_t at = tail.rfind("prog '");
    if (at == std::string::npos) return "";
    size_t end = tail.find('\'', at + 6);
    if (end == std::string::npos) return "";
    return tail.substr(at + 6, end - at - 6);
  }

  // shareMaps(other): before load, every map of this object that the loaded object `other` has
  // by the same name becomes other's map (bpf_map__reuse_fd) instead of a new one: a second
  // instance of an object then loads only its own programs, on the first one's state. Returns
  // how many maps are shared.
  Napi::Value ShareMaps(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    if (loaded_) ThrowPlain(env, "bpf object '" + path_ + "': maps cannot be shared after load()");
    BpfObject* other = info.Length() > 0 && info[0].IsObject() ? Napi::ObjectWrap<BpfObject>::Unwrap(info[0].As<Napi::Object>()) : nullptr;
    if (!other) throw Napi::TypeError::New(env, "the object to share maps with must be a BpfObject");
    other->EnsureOpen(env);
    if (!other->loaded_) ThrowPlain(env, "bpf object '" + other->path_ + "': not loaded, no maps to share");
    uint32_t shared = 0;
    struct bpf_map* m;
    bpf_object__for_each_map(m, obj_) {
      struct bpf_map* theirs = bpf_object__find_map_by_name(other->obj_, bpf_map__name(m));
      if (!theirs) continue;
      int err = bpf_map__reuse_fd(m, other->FdOf(theirs));
      if (err) ThrowErrno(env, "map '" + std::string(bpf_map__name(m)) + "': sharing failed", err);
      shared++;
    }
    return Napi::Number::New(env, shared);
  }

  // programFd(name): the fd of a loaded program, to store in a program array map.
  Napi::Value ProgramFd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "program name");
    int fd = FdOf(Prog(env, name));
    if (fd < 0) ThrowErrno(env, "program '" + name + "': not loaded", fd);
    return Napi::Number::New(env, fd);
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    size_t mark = g_log.size();
    int saved = g_log_level;
    // The verifier's and libbpf's reasons are what a failed load needs: keep them, even quietly.
    if (g_log_level < LIBBPF_INFO) g_log_level = LIBBPF_INFO;
    int err = bpf_object__load(obj_);
    g_log_level = saved;
    if (err) {
      std::string prog = FailedProgramFromLog(mark);
      ThrowErrno(env, "bpf object '" + path_ + "': load failed" + (prog.empty() ? "" : " (program '" + prog + "')"), err);
    }
    loaded_ = true;
    return env.Undefined();
  }

  // loadInKernel() -> 'loaded' | 'untouched' | 'spent'. Loads the object as a light skeleton
  // does: libbpf's gen_loader writes a loader program instead of loading, and the kernel runs it
  // (5.17+), creating the maps, applying the CO-RE relocations and finding attach targets in its
  // own BTF. So this process never parses the kernel's BTF (5 MB: ~13 ms of CPU, most of what a
  // histogram tool spends on loading). 'untouched': a program type this wrapper attaches only
  // through libbpf is autoloaded (tracepoint, kprobe, uprobe...); load() the object instead.
  // 'spent': the loader could not be written or failed (an older kernel; a program the verifier
  // refuses): the object is done with, and load() on a new one gives libbpf's own diagnosis.
  Napi::Value LoadInKernel(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EnsureOpen(env);
    if (loaded_) ThrowPlain(env, "bpf object '" + path_ + "' is already loaded");
    size_t nprogs = 0, nmaps = 0;
    struct bpf_program* p;
    bpf_object__for_each_program(p, obj_) {
      nprogs++;
      if (!bpf_program__autoload(p)) continue;
      switch (bpf_program__type(p)) {
        case BPF_PROG_TYPE_TRACING:
        case BPF_PROG_TYPE_RAW_TRACEPOINT:
        case BPF_PROG_TYPE_PERF_EVENT:
          break;
        default:
          return Napi::String::New(env, "untouched");
      }
    }
    struct bpf_map* m;
    bpf_object__for_each_map(m, obj_) nmaps++;
    LIBBPF_OPTS(gen_loader_opts, gen);
    if (bpf_object__gen_loader(obj_, &gen) || bpf_object__load(obj_)) return Napi::String::New(env, "spent");
    // The context the loader reads and fills: one descriptor per map, and one per program it
    // loads, in the object's order; zeros ask for what the object says (sizes, initial values).
    std::vector<uint8_t> ctx(sizeof(struct bpf_loader_ctx) + nmaps * sizeof(struct bpf_map_desc) + nprogs * sizeof(struct bpf_prog_desc));
    auto* head = reinterpret_cast<struct bpf_loader_ctx*>(ctx.data());
    head->sz = static_cast<__u32>(ctx.size());
    auto* maps = reinterpret_cast<struct bpf_map_desc*>(head + 1);
    auto* progs = reinterpret_cast<struct bpf_prog_desc*>(maps + nmaps);
    struct bpf_load_and_run_opts run = {};
    run.ctx = head;
    run.data = gen.data;
    run.insns = gen.insns;
    run.data_sz = gen.data_sz;
    run.insns_sz = gen.insns_sz;
    // The loader writes the fds into the context as its last step, once everything loaded; when
    // it fails, it has closed what it made and the context holds none.
    if (bpf_load_and_run(&run)) return Napi::String::New(env, "spent");
    size_t i = 0;
    bpf_object__for_each_map(m, obj_) {
      if (maps[i].map_fd > 0) map_fds_[bpf_map__name(m)] = maps[i].map_fd;
      i++;
    }
    i = 0;  // the loader numbers the programs it loads, in the object's order
    bpf_object__for_each_program(p, obj_) {
      if (!bpf_program__autoload(p)) continue;
      if (progs[i].prog_fd > 0) prog_fds_[bpf_program__name(p)] = progs[i].prog_fd;
      i++;
    }
    in_kernel_ = true;
    loaded_ = true;
    return Napi::String::New(env, "loaded");
  }

  Napi::Value Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "program name");
    RefuseInKernel(env, name);
    return AddLink(env, bpf_program__attach(Prog(env, name)), "program '" + name + "': attach failed");
  }

  Napi::Value AttachTrace(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "program name");
    struct bpf_program* prog = Prog(env, name);
    std::string what = "program '" + name + "': attach (tp_btf/fentry) failed";
    if (in_kernel_) return AddLinkFd(env, bpf_link_create(FdOf(prog), 0, bpf_program__expected_attach_type(prog), nullptr), what);
    return AddLink(env, bpf_program__attach_trace(prog), what);
  }

  Napi::Value AttachRawTracepoint(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "program name");
    std::string tp = ArgString(info, 1, "tracepoint name");
    struct bpf_program* prog = Prog(env, name);
    std::string what = "program '" + name + "': attach to raw tracepoint '" + tp + "' failed";
    if (in_kernel_) return AddLinkFd(env, bpf_raw_tracepoint_open(tp.c_str(), FdOf(prog)), what);
    return AddLink(env, bpf_program__attach_raw_tracepoint(prog, tp.c_str()), what);
  }

  Napi::Value AttachTracepoint(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "program name");
    std::string cat = ArgString(info, 1, "tracepoint category");
    std::string tp = ArgString(info, 2, "tracepoint name");
    RefuseInKernel(env, name);
    return AddLink(env, bpf_program__attach_tracepoint(Prog(env, name), cat.c_str(), tp.c_str()),
                   "program '" + name + "': attach to tracepoint '" + cat + ":" + tp + "' failed");
  }

  // attachUprobe(prog, { path, offset, pid = -1, retprobe = false })
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "program name");
    if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "uprobe options must be an object");
    Napi::Object o = info[1].As<Napi::Object>();
    std::string path = o.Get("path").ToString().Utf8Value();
    int64_t offset = OptInt(o, "offset", 0);
    int pid = static_cast<int>(OptInt(o, "pid", -1));
    bool ret = o.Get("retprobe").ToBoolean().Value();
    RefuseInKernel(env, name);
    return AddLink(env, bpf_program__attach_uprobe(Prog(env, name), ret, pid, path.c_str(), static_cast<size_t>(offset)),
                   "program '" + name + "': attach uprobe to '" + path + "' failed");
  }

  // attachPerfEvent(prog, { type, config, frequency | period, cpus: number[], pid = -1 })
  // Opens one perf event per CPU and attaches the program to each. CPUs that are offline
  // (ENODEV) are skipped; any other failure undoes what was opened and throws. Returns link ids.
  Napi::Value AttachPerfEvent(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "program name");
    struct bpf_program* prog = Prog(env, name);
    if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "perf event options must be an object");
    Napi::Object o = info[1].As<Napi::Object>();
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.size = sizeof(attr);
    attr.type = static_cast<uint32_t>(OptInt(o, "type", PERF_TYPE_SOFTWARE));
    attr.config = static_cast<uint64_t>(OptInt(o, "config", PERF_COUNT_SW_CPU_CLOCK));
    int64_t freq = OptInt(o, "frequency", 0);
    int64_t period = OptInt(o, "period", 0);
    if (freq > 0) {
      attr.freq = 1;
      attr.sample_freq = static_cast<uint64_t>(freq);
    } else if (period > 0) {
      attr.sample_period = static_cast<uint64_t>(period);
    } else {
      throw Napi::TypeError::New(env, "perf event needs a frequency or a period");
    }
    int pid = static_cast<int>(OptInt(o, "pid", -1));
    Napi::Value cpusV = o.Get("cpus");
    if (!cpusV.IsArray()) throw Napi::TypeError::New(env, "perf event options need cpus: number[]");
    Napi::Array cpus = cpusV.As<Napi::Array>();
    Napi::Array ids = Napi::Array::New(env);
    size_t first = links_.size();
    uint32_t n = 0;
    for (uint32_t i = 0; i < cpus.Length(); i++) {
      int cpu = cpus.Get(i).As<Napi::Number>().Int32Value();
      int fd = static_cast<int>(syscall(__NR_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
      if (fd < 0) {
        int err = errno;
        if (err == ENODEV) continue;
        UndoFrom(first);
        ThrowErrno(env, "program '" + name + "': perf_event_open on cpu " + std::to_string(cpu) + " failed", err);
      }
      Link l;
      int err = 0;
      if (in_kernel_) {
        l.fd = bpf_link_create(FdOf(prog), fd, BPF_PERF_EVENT, nullptr);
        l.event_fd = fd;
        if (l.fd < 0) err = l.fd == -1 ? -errno : l.fd;
      } else {
        l.link = bpf_program__attach_perf_event(prog, fd);  // owns fd from here: destroying it closes the event
        err = libbpf_get_error(l.link);
      }
      if (err) {
        close(fd);
        UndoFrom(first);
        ThrowErrno(env, "program '" + name + "': attach to perf event on cpu " + std::to_string(cpu) + " failed", err);
      }
      links_.push_back(l);
      ids.Set(n++, Napi::Number::New(env, static_cast<double>(links_.size() - 1)));
    }
    return ids;
  }

  void UndoFrom(size_t first) {
    while (links_.size() > first) {
      Release(links_.back());
      links_.pop_back();
    }
  }

  Napi::Value Detach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int64_t id = ArgInt(info, 0, "link id");
    if (id < 0 || static_cast<size_t>(id) >= links_.size()) ThrowPlain(env, "no link " + std::to_string(id));
    Release(links_[id]);
    return env.Undefined();
  }

  Napi::Value MapLookup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "map name");
    Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
    struct bpf_map* m;
    int fd = MapFd(env, name, &m);
    if (key.Length() != bpf_map__key_size(m)) ThrowErrno(env, "map '" + name + "': key size mismatch", EINVAL);
    Napi::Buffer<uint8_t> value = Napi::Buffer<uint8_t>::New(env, ValueBufSize(m));
    if (bpf_map_lookup_elem(fd, key.Data(), value.Data()) != 0) {
      int err = errno;
      if (err == ENOENT) return env.Null();
      ThrowErrno(env, "map '" + name + "': lookup failed", err);
    }
    return value;
  }

  Napi::Value MapUpdate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "map name");
    Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
    Napi::Buffer<uint8_t> value = ArgBuffer(info, 2, "value");
    uint64_t flags = info.Length() > 3 && info[3].IsNumber() ? static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value()) : static_cast<uint64_t>(BPF_ANY);
    struct bpf_map* m;
    int fd = MapFd(env, name, &m);
    if (key.Length() != bpf_map__key_size(m) || value.Length() != ValueBufSize(m))
      ThrowErrno(env, "map '" + name + "': key or value size mismatch", EINVAL);
    if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags) != 0)
      ThrowErrno(env, "map '" + name + "': update failed", errno);
    return env.Undefined();
  }

  // mapUpdateBatch(name, keys, values) -> count: keys and values laid end to end, stored with
  // one bpf(BPF_MAP_UPDATE_BATCH) instead of one system call each (5.6+). Throws when the kernel
  // stored none; a partial store (a full map) returns how many it stored.
  Napi::Value MapUpdateBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "map name");
    Napi::Buffer<uint8_t> keys = ArgBuffer(info, 1, "keys");
    Napi::Buffer<uint8_t> values = ArgBuffer(info, 2, "values");
    struct bpf_map* m;
    int fd = MapFd(env, name, &m);
    size_t ks = bpf_map__key_size(m), vs = ValueBufSize(m);
    if (ks == 0 || vs == 0 || keys.Length() % ks != 0 || values.Length() != keys.Length() / ks * vs)
      ThrowErrno(env, "map '" + name + "': key or value size mismatch", EINVAL);
    __u32 count = static_cast<__u32>(keys.Length() / ks);
    if (count == 0) return Napi::Number::New(env, 0);
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY, .flags = 0);
    if (bpf_map_update_batch(fd, keys.Data(), values.Data(), &count, &opts) != 0 && count == 0)
      ThrowErrno(env, "map '" + name + "': batch update failed", errno);
    return Napi::Number::New(env, count);
  }

  Napi::Value MapDelete(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "map name");
    Napi::Buffer<uint8_t> key = ArgBuffer(info, 1, "key");
    int fd = MapFd(env, name);
    if (bpf_map_delete_elem(fd, key.Data()) != 0) {
      int err = errno;
      if (err == ENOENT) return Napi::Boolean::New(env, false);
      ThrowErrno(env, "map '" + name + "': delete failed", err);
    }
    return Napi::Boolean::New(env, true);
  }

  // Collects every key of a map. Keys are gathered first so that deleting while iterating (or the
  // kernel inserting meanwhile) cannot loop forever: at most max_entries keys are taken.
  std::vector<uint8_t> CollectKeys(Napi::Env env, const std::string& name, int fd, struct bpf_map* m, size_t* count) {
    size_t ks = bpf_map__key_size(m);
    size_t max = bpf_map__max_entries(m);
    std::vector<uint8_t> keys;
    std::vector<uint8_t> cur(ks), next(ks);
    void* prev = nullptr;
    size_t n = 0;
    while (n < max) {
      if (bpf_map_get_next_key(fd, prev, next.data()) != 0) {
        int err = errno;
        if (err == ENOENT) break;
        ThrowErrno(env, "map '" + name + "': iteration failed", err);
      }
      keys.insert(keys.end(), next.begin(), next.end());
      cur.swap(next);
      prev = cur.data();
      n++;
    }
    *count = n;
    return keys;
  }

  // mapEntries(name) -> { count, keys: Buffer, values: Buffer } with fixed-size records laid end
  // to end: one allocation each, however many entries, so reading 100k stacks stays cheap.
  Napi::Value MapEntries(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "map name");
    struct bpf_map* m;
    int fd = MapFd(env, name, &m);
    size_t ks = bpf_map__key_size(m);
    size_t vs = ValueBufSize(m);
    size_t n = 0;
    std::vector<uint8_t> keys = CollectKeys(env, name, fd, m, &n);
    std::vector<uint8_t> values(n * vs);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
      const uint8_t* k = keys.data() + i * ks;
      if (bpf_map_lookup_elem(fd, k, values.data() + kept * vs) != 0) {
        int err = errno;
        if (err == ENOENT) continue;  // deleted since we saw its key
        ThrowErrno(env, "map '" + name + "': lookup failed", err);
      }
      if (kept != i) memmove(keys.data() + kept * ks, k, ks);
      kept++;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("count", Napi::Number::New(env, static_cast<double>(kept)));
    out.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), kept * ks));
    out.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), kept * vs));
    out.Set("keySize", Napi::Number::New(env, static_cast<double>(ks)));
    out.Set("valueSize", Napi::Number::New(env, static_cast<double>(vs)));
    return out;
  }

  // Deletes every entry (hash-like maps). Array maps cannot delete: their values are zeroed.
  Napi::Value MapClear(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "map name");
    struct bpf_map* m;
    int fd = MapFd(env, name, &m);
    size_t ks = bpf_map__key_size(m);
    size_t n = 0;
    std::vector<uint8_t> keys = CollectKeys(env, name, fd, m, &n);
    enum bpf_map_type t = bpf_map__type(m);
    bool isArray = t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY;
    std::vector<uint8_t> zero(ValueBufSize(m), 0);
    for (size_t i = 0; i < n; i++) {
      const uint8_t* k = keys.data() + i * ks;
      int rc = isArray ? bpf_map_update_elem(fd, k, zero.data(), BPF_ANY) : bpf_map_delete_elem(fd, k);
      if (rc != 0 && errno != ENOENT) ThrowErrno(env, "map '" + name + "': clear failed", errno);
    }
    return Napi::Number::New(env, static_cast<double>(n));
  }

  // ringConsume(name[, maxBytes]) -> Buffer: the records now in a BPF_MAP_TYPE_RINGBUF map,
  // without waiting, each as a little-endian u32 length, the record, and padding to 4 bytes.
  // Empty when there is none. Records are consumed (the kernel can reuse their space). With
  // maxBytes, it returns once that much is taken: a producer faster than the reader would
  // otherwise keep one call consuming for as long as it produces.
  Napi::Value RingConsume(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string name = ArgString(info, 0, "map name");
    struct bpf_map* m;
    int fd = MapFd(env, name, &m);
    if (bpf_map__type(m) != BPF_MAP_TYPE_RINGBUF) ThrowErrno(env, "map '" + name + "': not a ring buffer", EINVAL);
    Ring*& ring = rings_[name];
    if (!ring) {
      ring = new Ring();
      ring->rb = ring_buffer__new(fd, OnRecord, ring, nullptr);
      int err = libbpf_get_error(ring->rb);
      if (!ring->rb || err) {
        ring->rb = nullptr;
        delete ring;
        rings_.erase(name);
        ThrowErrno(env, "map '" + name + "': ring buffer setup failed", err ? err : errno);
      }
    }
    int64_t budget = info.Length() > 1 && !info[1].IsUndefined() ? ArgInt(info, 1, "byte budget") : 0;
    ring->budget = budget > 0 ? static_cast<size_t>(budget) : 0;
    ring->pending.clear();
    int n = ring_buffer__consume(ring->rb);
    if (n < 0 && n != kBudgetSpent) ThrowErrno(env, "map '" + name + "': ring buffer consume failed", n);
    Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::Copy(env, ring->pending.data(), ring->pending.size());
    ring->pending.clear();
    if (ring->pending.capacity() > (16u << 20)) ring->pending.shrink_to_fit();
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Destroy();
    return info.Env().Undefined();
  }
};

Napi::Value SetLogLevel(const Napi::CallbackInfo& info) {
  int64_t level = ArgInt(info, 0, "log level");
  g_log_level = level <= 0 ? LIBBPF_WARN : level == 1 ? LIBBPF_INFO : LIBBPF_DEBUG;
  return info.Env().Undefined();
}

Napi::Value TakeLog(const Napi::CallbackInfo& info) {
  Napi::String s = Napi::String::New(info.Env(), g_log);
  g_log.clear();
  return s;
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) ThrowErrno(info.Env(), "libbpf_num_possible_cpus failed", n);
  return Napi::Number::New(info.Env(), n);
}

// probeProgType(type) -> boolean: can this kernel load a trivial program of that type at all?
Napi::Value ProbeProgType(const Napi::CallbackInfo& info) {
  int64_t type = ArgInt(info, 0, "program type");
  int rc = libbpf_probe_bpf_prog_type(static_cast<enum bpf_prog_type>(type), nullptr);
  return Napi::Boolean::New(info.Env(), rc == 1);
}

Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  int64_t type = ArgInt(info, 0, "map type");
  int rc = libbpf_probe_bpf_map_type(static_cast<enum bpf_map_type>(type), nullptr);
  return Napi::Boolean::New(info.Env(), rc == 1);
}

// Nanoseconds of CLOCK_MONOTONIC (the clock of bpf_ktime_get_ns) and CLOCK_REALTIME, read
// back to back so their difference converts kernel timestamps to wall-clock time.
Napi::Value ClockPair(const Napi::CallbackInfo& info) {
  struct timespec mono, real;
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("monotonic", Napi::BigInt::New(env, static_cast<uint64_t>(static_cast<uint64_t>(mono.tv_sec) * 1000000000ull + mono.tv_nsec)));
  o.Set("realtime", Napi::BigInt::New(env, static_cast<uint64_t>(static_cast<uint64_t>(real.tv_sec) * 1000000000ull + real.tv_nsec)));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
  libbpf_set_print(LogToBuffer);
  exports.Set("BpfObject", BpfObject::Init(env));
  exports.Set("setLogLevel", Napi::Function::New(env, SetLogLevel));
  exports.Set("takeLog", Napi::Function::New(env, TakeLog));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus));
  exports.Set("probeProgType", Napi::Function::New(env, ProbeProgType));
  exports.Set("probeMapType", Napi::Function::New(env, ProbeMapType));
  exports.Set("clockPair", Napi::Function::New(env, ClockPair));
  return exports;
}

}  // namespace

NODE_API_MODULE(ebpf_otel, Init)
