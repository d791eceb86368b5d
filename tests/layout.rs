//! The layout rules of the crate (the layer order of the README's layout section): no file
//! imports from a folder above its own or from a sibling folder of the same layer, no two
//! files of a crate import each other through a cycle, and every source file stays under 400
//! lines. The checks read the `crate::` and `super::` paths of each file's code (comments and
//! the inline test module left out), resolving re-exports of `mod.rs` and `lib.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers of `src/`, top first: a module may use modules of a lower rank only.
const LAYERS: &[(&str, u32)] = &[
    ("main", 100),
    ("cli", 90),
    ("experiments", 80),
    ("continual", 70),
    ("baselines", 65),
    ("eval", 60),
    ("train", 60),
    // the crate-wide error wraps the errors of routing and below; eval and up return it
    ("error", 55),
    ("routing", 50),
    ("model", 40),
    ("adapters", 30),
    ("dema", 30),
    ("data", 20),
    ("io", 10),
    ("progress", 10),
    ("rng", 10),
];

fn rank(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits `s` at commas outside braces.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The full paths of a use tree: `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        for part in split_top(inner) {
            expand(prefix, part, out);
        }
    } else if let Some(at) = tree.find("::{") {
        expand(&format!("{prefix}{}::", &tree[..at]), &tree[at + 2..], out);
    } else {
        let leaf = tree.split(" as ").next().unwrap_or(tree).trim();
        out.push(format!("{prefix}{leaf}"));
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path that starts with `anchor` (`crate::` or `super::`) in `code`, as segments after
/// it: use trees expanded, inline paths read up to the first non-path character.
fn paths(code: &str, anchor: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(anchor) {
        let preceded = rest[..at].chars().next_back().is_some_and(is_ident);
        let after = &rest[at + anchor.len()..];
        rest = after;
        if preceded {
            continue;
        }
        let text: String = after
            .chars()
            .take_while(|&c| is_ident(c) || c == ':')
            .collect();
        let tail = &after[text.len()..];
        if tail.starts_with('{') && (text.is_empty() || text.ends_with("::")) {
            // a use tree: up to its closing brace
            let mut depth = 0;
            let end = tail
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(tail.len(), |(i, _)| i + 1);
            let mut trees = Vec::new();
            expand("", &format!("{text}{}", &tail[..end]), &mut trees);
            for tree in trees {
                found.push(tree.split("::").map(str::to_string).collect());
            }
            continue;
        }
        let segments: Vec<String> = text
            .split("::")
            .filter(|s| !s.is_empty() && *s != "*")
            .map(str::to_string)
            .collect();
        if !segments.is_empty() {
            found.push(segments);
        }
    }
    found
}

/// One crate's files and how its paths resolve to files.
struct Crate {
    src: PathBuf,
    files: Vec<PathBuf>,
}

impl Crate {
    fn new(src: PathBuf) -> Self {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        Self { src, files }
    }

    /// The module file of folder `dir` (`lib.rs` at the root, `mod.rs` below).
    fn module_file(&self, dir: &Path) -> PathBuf {
        match dir == self.src {
            true => dir.join("lib.rs"),
            false => dir.join("mod.rs"),
        }
    }

    /// The file that defines the item at `segments` seen from folder `dir`; `None` when it is
    /// an item of a module file itself or outside the crate.
    fn resolve(&self, dir: &Path, segments: &[String], depth: usize) -> Option<PathBuf> {
        let (first, rest) = segments.split_first()?;
        if first == "super" {
            return self.resolve(dir.parent()?, rest, depth);
        }
        let (folder, file) = (dir.join(first), dir.join(format!("{first}.rs")));
        if folder.join("mod.rs").is_file() {
            return self
                .resolve(&folder, rest, depth)
                .or(Some(folder.join("mod.rs")));
        }
        if file.is_file() {
            return Some(file);
        }
        if depth > 4 {
            return None;
        }
        // an item re-exported by the folder's module file: `pub use child::{.., first, ..}`
        let module = code(&self.module_file(dir));
        for path in paths(&module.replace("pub use ", "pub use crate::"), "crate::") {
            if path.last() == Some(first) && path.len() > 1 {
                return self.resolve(dir, &path[..path.len() - 1], depth + 1);
            }
        }
        None
    }

    /// The files each file uses: `(file, used file)` for every resolvable path.
    fn edges(&self) -> Vec<(PathBuf, PathBuf)> {
        let mut edges = Vec::new();
        for file in &self.files {
            let code = code(file);
            let dir = file.parent().unwrap();
            let own = match file.file_name().and_then(|n| n.to_str()) {
                Some("mod.rs") => dir.parent().unwrap_or(dir),
                _ => dir,
            };
            let mut targets = BTreeSet::new();
            for path in paths(&code, "crate::") {
                targets.extend(self.resolve(&self.src, &path, 0));
            }
            for path in paths(&code, "super::") {
                targets.extend(self.resolve(own, &path, 0));
            }
            for target in targets.into_iter().filter(|t| t != file) {
                edges.push((file.clone(), target));
            }
        }
        edges
    }

    /// The top module of a file: its first folder under `src`, or its name without `.rs`.
    fn top(&self, file: &Path) -> String {
        let rel = file.strip_prefix(&self.src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    }
}

/// Cycles among the files (module files apart: they only declare and re-export).
fn cycles(edges: &[(PathBuf, PathBuf)]) -> Vec<Vec<PathBuf>> {
    let skip = |p: &Path| p.ends_with("mod.rs") || p.ends_with("lib.rs");
    let mut graph: BTreeMap<&PathBuf, Vec<&PathBuf>> = BTreeMap::new();
    for (from, to) in edges.iter().filter(|(a, b)| !skip(a) && !skip(b)) {
        graph.entry(from).or_default().push(to);
    }
    let mut found = Vec::new();
    for &start in graph.keys() {
        // depth-first search for a path back to `start` through files after it (each cycle
        // is reported once, from its smallest file)
        let mut stack = vec![(start, vec![start])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for &next in graph.get(node).into_iter().flatten() {
                if next == start {
                    found.push(path.iter().map(|p| (*p).clone()).collect());
                } else if next > start && seen.insert(next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
    found
}

#[test]
fn use_tree_expansion_and_path_reading() {
    let code = "use crate::{a::B, c::{d::E, F as G}};\nfn f() { crate::h::i(); super::j::K; }";
    let crate_paths = paths(code, "crate::");
    let joined: Vec<String> = crate_paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(joined, ["a::B", "c::d::E", "c::F", "h::i"]);
    assert_eq!(paths(code, "super::"), [vec!["j".to_string(), "K".into()]]);
    let graph = [
        (PathBuf::from("a.rs"), PathBuf::from("b.rs")),
        (PathBuf::from("b.rs"), PathBuf::from("a.rs")),
    ];
    assert_eq!(cycles(&graph).len(), 1);
}

#[test]
fn imports_only_run_downwards() {
    let lib = Crate::new(root().join("src"));
    let mut upward = Vec::new();
    for (from, to) in lib.edges() {
        let (a, b) = (lib.top(&from), lib.top(&to));
        if a == b || a == "lib" {
            continue;
        }
        let (ra, rb) = (rank(&a), rank(&b));
        let (ra, rb) = (
            ra.unwrap_or_else(|| panic!("{a}: add the module to LAYERS")),
            rb.unwrap_or_else(|| panic!("{b}: add the module to LAYERS")),
        );
        if rb >= ra {
            upward.push(format!("{} uses {}", from.display(), to.display()));
        }
    }
    assert!(
        upward.is_empty(),
        "imports that do not run downwards:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_module_cycles() {
    for src in [root().join("src"), root().join("backends/src")] {
        let krate = Crate::new(src);
        let found = cycles(&krate.edges());
        let shown: Vec<String> = found
            .iter()
            .map(|c| {
                let names: Vec<String> = c.iter().map(|p| p.display().to_string()).collect();
                names.join(" -> ")
            })
            .collect();
        assert!(found.is_empty(), "module cycles:\n{}", shown.join("\n"));
    }
}

#[test]
fn source_files_stay_under_400_lines() {
    let mut files = Vec::new();
    for dir in ["src", "backends/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 50, "the walk found the sources");
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines >= 400).then(|| format!("{}: {lines} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files of 400 lines or more:\n{}",
        long.join("\n")
    );
}
