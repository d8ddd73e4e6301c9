{
  # librsync is located (and static vs dynamic decided) by tools/librsync-config.js;
  # see README.md. Override with AXIS_RSYNC_LINK=static|dynamic, LIBRSYNC_PREFIX, ...
  "variables": {
    "rsync_blake2_shim%": "<!(node tools/librsync-config.js blake2_shim)",
    "rsync_link%": "<!(node tools/librsync-config.js link)"
  },
  "targets": [
    {
      "target_name": "axis_rsync",
      "sources": [
        "src/addon.cc",
        "src/basis_reader.cc",
        "src/log_capture.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "include_dirs": [
        "<!@(node tools/librsync-config.js include_dirs)"
      ],
      "libraries": [
        "<!@(node tools/librsync-config.js libraries)"
      ],
      "defines": [
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
      # Export nothing but the Node-API entry points.
      "cflags": [ "-O3", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter" ],
      "cflags_cc": [ "-O3", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-Wall", "-Wextra", "-Wno-unused-parameter" ],
      "xcode_settings": {
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "OTHER_LDFLAGS": [ "<!@(node tools/librsync-config.js ldflags)" ]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "Optimization": 2 }
      },
      "conditions": [
        [ "rsync_blake2_shim==1", { "sources": [ "src/shims/blake2b.c" ] } ],
        [ "OS=='linux'", { "ldflags": [ "<!@(node tools/librsync-config.js ldflags)" ] } ],
        [ "OS=='win'", { "defines": [ "WIN32_LEAN_AND_MEAN", "NOMINMAX" ] } ]
      ]
    }
  ]
}
