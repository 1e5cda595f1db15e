{ok, L} = gen_tcp:listen(0, [binary, {active, false}, {reuseaddr, true}, {nodelay, true},
                             {ip, {127,0,0,1}}, {backlog, 128}, {buffer, 65536}]),
{ok, P} = inet:port(L),
io:format("listening on 127.0.0.1:~p~n", [P]),
Serve = fun Serve(S) ->
    ok = inet:setopts(S, [{active, once}]),
    receive
        {tcp, S, D} -> ok = gen_tcp:send(S, D), Serve(S);
        {tcp_closed, S} -> ok;
        {tcp_error, S, _} -> gen_tcp:close(S)
    end
end,
Accept = fun Accept() ->
    {ok, S} = gen_tcp:accept(L),
    Pid = spawn(fun() -> receive go -> Serve(S) end end),
    ok = gen_tcp:controlling_process(S, Pid),
    Pid ! go,
    Accept()
end,
Accept().
