{
  "targets": [
    {
      "target_name": "ebpf_otel",
      "sources": ["native/ebpf_otel.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wno-missing-field-initializers"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-l:libbpf.so.1"]
    }
  ]
}
