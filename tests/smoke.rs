mod support;

use support::{LiveProcess, TestEnv};

#[test]
fn first_session_takes_main_checkout_second_gets_worktree() {
    let env = TestEnv::new();
    let repo = env.repo("app");
    let first = LiveProcess::spawn();
    let second = LiveProcess::spawn();
    let a = env.register(&repo, first.pid());
    let b = env.register(&repo, second.pid());
    assert_eq!(a["isMainRepo"], true);
    assert_eq!(b["isMainRepo"], false);
    assert_eq!(b["parallelSessions"], 2);
    let list = env.git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(list.contains(b["worktreePath"].as_str().unwrap()), "{list}");
    assert_eq!(env.status()["totalSessions"], 2);
}
