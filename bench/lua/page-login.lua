-- POST /login as the page's form does: identifier, password and the CSRF token of a form fetched once, with its cookie.
wrk.method = "POST"
wrk.headers["content-type"] = "application/x-www-form-urlencoded"
wrk.headers["cookie"] = "usersvc_csrf=" .. os.getenv("BENCH_CSRF_COOKIE")
wrk.body = "identifier=" .. os.getenv("BENCH_USERNAME") .. "&password=correct+horse+battery+staple&csrf_token=" .. os.getenv("BENCH_CSRF_TOKEN")
