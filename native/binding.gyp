{
  # librsync is located (and static vs dynamic decided) by tools/librsync-config.js;
  # see README.md. Override with AXIS_RSYNC_LINK=static|dynamic, LIBRSYNC_PREFIX, ...
  "variables": {
    "rsync_blake2_shim%": "<!(node tools/librsync-config.js blake2_shim)"
  },
  "targets": [
    {
      "target_name": "axis_rsync",
      "sources": [
        "src/addon.cc",
        "src/basis_reader.cc",
        "src/log_capture.cc"
      ],
      # node-addon-api with C++ exceptions (the settings of its node_addon_api_except
      # target, inlined: depending on that target makes gyp write Makefiles into
      # native/node_modules/).
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node tools/librsync-config.js include_dirs)"
      ],
      "libraries": [
        "<!@(node tools/librsync-config.js libraries)"
      ],
      "defines": [
        "NAPI_CPP_EXCEPTIONS",
        # Node-API 8: Node >= 12.22/14.17/16, every Electron we could ship. <= 9 by policy.
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        # Electron's V8 sandbox forbids external ArrayBuffers: never create them.
        "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED",
        "_FILE_OFFSET_BITS=64",
        "<!@(node tools/librsync-config.js defines)"
      ],
      # Windows: resolve node.exe / electron.exe imports at load time (required for
      # Electron, whose executable is not called node.exe).
      "win_delay_load_hook": "true",
      "cflags!": [ "-fno-exceptions" ],
      "cflags_cc!": [ "-fno-exceptions" ],
      # -fvisibility=hidden: export nothing but the Node-API entry points.
      "cflags": [ "-O3", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter" ],
      "cflags_cc": [ "-O3", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-Wall", "-Wextra", "-Wno-unused-parameter" ],
      "xcode_settings": {
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LIBRARY": "libc++",
        "OTHER_LDFLAGS": [ "<!@(node tools/librsync-config.js ldflags)" ]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "Optimization": 2 }
      },
      "conditions": [
        [ "rsync_blake2_shim==1", { "sources": [ "src/shims/blake2b.c" ] } ],
        [ "OS=='linux'", { "ldflags": [ "<!@(node tools/librsync-config.js ldflags)" ] } ],
        [ "OS=='win'", { "defines": [ "_HAS_EXCEPTIONS=1", "WIN32_LEAN_AND_MEAN", "NOMINMAX" ] } ]
      ]
    }
  ]
}
