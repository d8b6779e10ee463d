-- GET a hosted page (the path of the URL given to wrk), as a first visit: no cookie.
wrk.method = "GET"
