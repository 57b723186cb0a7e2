"""spaces: the second reference stack, made of real servers (Janus AudioBridge, an ffmpeg HLS
packager, nginx origin and edges, Prometheus exporters), plus the small services a platform
adds around them: the control plane (`spaces.api`), the Janus and ffmpeg exporters, the howl
guard. Nothing here is in the media path. The stack spec is chaos/stack/specs/spaces.yaml;
the server configurations are the templates beside these modules.
"""
