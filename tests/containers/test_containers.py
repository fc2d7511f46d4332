"""test_containers.py - structural checks of containers/ (pytest; CTest
`containers_structure`, label `unit`; fixtures in tests/conftest.py).

No container engine runs on the development or CI machines, so this checks
what can be checked without one:
  * Dockerfile: a build stage FROM an nvidia/cuda *devel* Debian/Ubuntu image
    that copies and runs scripts/install-deps (the install step of README.md)
    and builds with CMake; a runtime stage FROM nvidia/cuda *runtime* fed by
    COPY --from=build that runs the self-test; every COPY source exists in the
    repository; the FROM arguments are declared;
  * nnfi.def: Bootstrap docker-daemon/docker from the image the README
    builds, the sections %labels %help %environment %runscript %test, and
    %test runs the self-test, which collect-runtime.sh installs;
  * README.md: the build, apptainer and srun --mpi=pmix ... --nv commands and
    the MPI ABI section;
  * no absolute path of a developer machine (/work, /root, /home) anywhere;
  * shellcheck: containers/*.sh, the script collect-runtime.sh writes, the
    shell of every Dockerfile RUN and of the Apptainer sections;
  * the self-test campaign is valid (`nnfi plan`; skipped without NNFI_BIN).

By hand: NNFI_BIN=build/src/nnfi /usr/bin/python3 -m pytest tests/containers
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

@pytest.fixture(scope="module")
def root(source_dir):
    return str(source_dir)


@pytest.fixture(scope="module")
def cdir(root):
    return os.path.join(root, "containers")


def read(cdir, name):
    with open(os.path.join(cdir, name)) as f:
        return f.read()


def dockerfile_stages(docker):
    """The Dockerfile's stages [(FROM line, [instructions])] and the ARGs
    before the first FROM."""
    # logical instructions: continuation lines joined, comments dropped
    instr = []
    cur = ""
    for line in docker.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        instr.append(cur.strip())
        cur = ""
    stages = []  # (FROM line, [instructions])
    pre_args = []
    for i in instr:
        word = i.split()[0].upper()
        if word == "FROM":
            stages.append((i, []))
        elif stages:
            stages[-1][1].append(i)
        elif word == "ARG":
            pre_args.append(i.split()[1].split("=")[0])
    return stages, pre_args


def def_sections(deff):
    """nnfi.def: its header {key: value} and its %sections {name: [lines]}."""
    header = {}
    for line in deff.splitlines():
        if line.startswith("%"):
            break
        m = re.match(r"^(\w+):\s*(\S+)", line)
        if m:
            header[m.group(1).lower()] = m.group(2)
    sections = {}
    name = None
    for line in deff.splitlines():
        m = re.match(r"^%(\w+)\s*$", line)
        if m:
            name = m.group(1)
            sections[name] = []
        elif name:
            sections[name].append(line)
    return header, sections


def test_dockerfile(cdir, root, check):
    stages, pre_args = dockerfile_stages(read(cdir, "Dockerfile"))
    check(len(stages) >= 2, f"Dockerfile: multi-stage ({len(stages)} stages)")
    build = next((s for s in stages if re.search(r"\bAS\s+build\b", s[0], re.I)), None)
    runtime = stages[-1] if stages else None
    check(build is not None and re.search(r"FROM\s+nvidia/cuda:\S*-devel-(ubuntu|debian)", build[0]) is not None,
          "Dockerfile: the build stage is FROM an nvidia/cuda devel Debian/Ubuntu image")
    check(runtime is not None and runtime is not build and
          re.search(r"FROM\s+nvidia/cuda:\S*-runtime-(ubuntu|debian)", runtime[0]) is not None,
          "Dockerfile: the last stage is FROM an nvidia/cuda runtime image")
    for s in stages:
        for var in re.findall(r"\$\{(\w+)\}", s[0]):
            check(var in pre_args, f"Dockerfile: {var} of '{s[0]}' is an ARG before the first FROM")
    if build:
        runs = [i for i in build[1] if i.upper().startswith("RUN ")]
        idx_deps = next((k for k, i in enumerate(build[1]) if i.upper().startswith("RUN ") and
                         re.search(r"(^|[\s/])scripts/install-deps\b", i[4:])), None)
        idx_copy = next((k for k, i in enumerate(build[1]) if i.upper().startswith("COPY ") and "scripts" in i), None)
        check(idx_deps is not None, "Dockerfile: the build stage runs scripts/install-deps")
        check(idx_copy is not None and idx_deps is not None and idx_copy < idx_deps,
              "Dockerfile: scripts/install-deps is copied in before it runs")
        check(any("cmake -S" in r and "cmake --build" in r for r in runs), "Dockerfile: the build stage builds with CMake")
        check(any("collect-runtime.sh" in r for r in runs), "Dockerfile: the build stage collects the runtime files")
    if runtime:
        check(any(re.match(r"COPY\s+--from=build\s", i) for i in runtime[1]), "Dockerfile: runtime stage COPY --from=build")
        check(any(i.upper().startswith("RUN ") and "selftest.sh" in i for i in runtime[1]),
              "Dockerfile: the runtime stage runs the self-test")
        check(any(i.upper().startswith("ENV ") and "/opt/nnfi/bin" in i for i in runtime[1]),
              "Dockerfile: nnfi is on PATH in the runtime image")
    for s in stages:
        for i in s[1]:
            if not i.upper().startswith("COPY ") or "--from=" in i:
                continue
            words = [w for w in i.split()[1:] if not w.startswith("--")]
            for src in words[:-1]:
                check(os.path.exists(os.path.join(root, src)), f"Dockerfile: COPY source {src} exists in the repository")


def test_apptainer_def(cdir, check):
    header, sections = def_sections(read(cdir, "nnfi.def"))
    readme = read(cdir, "README.md")
    check(header.get("bootstrap") in ("docker-daemon", "docker"), f"nnfi.def: Bootstrap {header.get('bootstrap')}")
    tag = re.search(r"docker build -f containers/Dockerfile -t (\S+) \.", readme)
    check(tag is not None, "README: the docker build command with its tag")
    check(tag is not None and header.get("from") == tag.group(1),
          f"nnfi.def: From {header.get('from')} is the image the README builds")
    for sec in ("labels", "help", "environment", "runscript", "test"):
        check(sec in sections and any(x.strip() for x in sections[sec]), f"nnfi.def: %{sec} section")
    test_body = "\n".join(sections.get("test", []))
    check("/opt/nnfi/share/selftest.sh" in test_body, "nnfi.def: %test runs the self-test")
    selftest = read(cdir, "selftest.sh")
    for needle in ("nnfi --version", "nnfi plan", "nnfi run", "nnfi merge"):
        check(needle in selftest, f"selftest.sh runs {needle}")
    collect = read(cdir, "collect-runtime.sh")
    check("selftest.sh" in collect and "selftest.yaml" in collect and "share" in collect,
          "collect-runtime.sh installs the self-test under /opt/nnfi/share")


def test_readme(cdir, root, check):
    readme = read(cdir, "README.md")
    for needle in ("scripts/install-deps", "apptainer build", "srun --mpi=pmix apptainer exec --nv", "ABI",
                   "Bootstrap: docker"):
        check(needle in readme, f"README mentions '{needle}'")
    with open(os.path.join(root, "README.md")) as f:
        check("scripts/install-deps" in f.read(), "the top-level README's install step is scripts/install-deps too")


def test_no_machine_paths(cdir, check):
    bad = re.compile(r"(?<![\w.$}-])/(work|root|home)(?![\w-])")
    for fn in sorted(os.listdir(cdir)):
        path = os.path.join(cdir, fn)
        if not os.path.isfile(path):
            continue
        with open(path, errors="replace") as f:
            hits = [f"{fn}:{n}: {line.strip()}" for n, line in enumerate(f, 1) if bad.search(line)]
        check(not hits, f"{fn}: no absolute /work, /root or /home path" + ("".join("\n    " + h for h in hits)))


def test_shellcheck(cdir, check):
    sc = shutil.which("shellcheck")
    assert sc is not None, "shellcheck is installed (scripts/install-deps)"
    stages, _ = dockerfile_stages(read(cdir, "Dockerfile"))
    _, sections = def_sections(read(cdir, "nnfi.def"))
    collect = read(cdir, "collect-runtime.sh")
    scripts = [os.path.join(cdir, f) for f in sorted(os.listdir(cdir)) if f.endswith(".sh")]
    p = subprocess.run([sc] + scripts, capture_output=True, text=True)
    check(p.returncode == 0, "shellcheck containers/*.sh" + (("\n" + p.stdout) if p.returncode else ""))
    with tempfile.TemporaryDirectory() as tmp:
        embedded = {}
        heredoc = re.search(r"<<'EOF'\n(.*?)\nEOF\n", collect, re.S)
        check(heredoc is not None, "collect-runtime.sh writes install-runtime.sh from a here-document")
        if heredoc:
            embedded["install-runtime.sh"] = heredoc.group(1) + "\n"
        runs = [i[4:] for s in stages for i in s[1] if i.upper().startswith("RUN ")]
        args = sorted({a.split()[1].split("=")[0] for s in stages for a in s[1] if a.upper().startswith("ARG ")})
        # /bin/sh -c runs each RUN; the ARGs are its environment
        embedded["dockerfile-run.sh"] = ("#!/bin/sh\n" + "".join(f": \"${{{a}:=}}\"\n" for a in args) +
                                         "\n".join(runs) + "\n")
        for sec in ("environment", "runscript", "test"):
            embedded[f"def-{sec}.sh"] = "#!/bin/sh\n" + "\n".join(sections.get(sec, [])) + "\n"
        for fn, text in embedded.items():
            path = os.path.join(tmp, fn)
            with open(path, "w") as f:
                f.write(text)
            p = subprocess.run([sc, path], capture_output=True, text=True)
            check(p.returncode == 0, f"shellcheck of the embedded {fn}" + (("\n" + p.stdout) if p.returncode else ""))


def test_selftest_campaign(cdir, nnfi_bin):
    p = subprocess.run([str(nnfi_bin), "plan", os.path.join(cdir, "selftest.yaml")], capture_output=True, text=True)
    assert p.returncode == 0 and "total:" in p.stdout, "nnfi plan accepts containers/selftest.yaml\n" + p.stdout + p.stderr
