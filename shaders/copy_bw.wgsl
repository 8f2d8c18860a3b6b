// Memory bandwidth probe: a grid-stride copy of vec4<f32>.
override WG: u32 = 256u;

struct Params {
    n: u32,       // vec4 elements
    threads: u32, // total invocations
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    for (var i = gid.x; i < p.n; i = i + p.threads) {
        dst[i] = src[i];
    }
}
